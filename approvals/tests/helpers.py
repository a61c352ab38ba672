"""Builders for approval tests: workflows with steps through the real services."""

from approvals.services.workflows import workflow_create, workflow_step_save


def workflow(tenant, *, steps=({"roles": ["manager"]},), **fields):
    """A workflow of `tenant` with `steps` (each: users, roles, team, rule, required_count, target_minutes,
    escalate_to, name)."""
    with tenant.scope():
        flow = workflow_create(
            organization=tenant.organization, actor=tenant.users["owner"], name=fields.pop("name", "Review"), **fields
        )
        for number, step in enumerate(steps, 1):
            step = dict(step)
            workflow_step_save(
                organization=tenant.organization,
                actor=tenant.users["owner"],
                workflow=flow,
                name=step.pop("name", f"Step {number}"),
                **step,
            )
        return flow
