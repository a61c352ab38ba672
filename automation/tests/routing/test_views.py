"""The teams pages: the empty list says what a team is for, with the button to the form that creates one."""

import pytest

from accounts import services as account_services

pytestmark = pytest.mark.django_db


def _in_english(user):
    user.language = "en"
    user.save(update_fields=["language"])
    return user


def test_the_empty_team_list_says_what_teams_are_for_with_the_button_to_create_one(tenant_a, login):
    teams_url = f"/{tenant_a.slug}/settings/teams/"
    # An admin without teams: the explanation and a "New team" button leading to the form on the page
    body = login(_in_english(tenant_a.users["admin"])).get(teams_url).content.decode()
    empty = body.split('id="teams-empty"')[1].split("</div>")[0]
    assert "No teams yet" in empty and "automatic assignment picks the agent" in empty
    assert 'href="#new-team"' in empty and ">New team</a>" in empty
    assert 'id="new-team"' in body and 'name="name"' in body.split('id="new-team"')[1]
    assert 'id="teams"' not in body
    # A member who cannot create teams reads the explanation without the button
    agent = login(_in_english(tenant_a.users["agent"])).get(teams_url).content.decode()
    assert "No teams yet" in agent and "An administrator can create teams." in agent
    assert 'href="#new-team"' not in agent and 'id="new-team"' not in agent
    # With a team, the list shows it
    with tenant_a.scope():
        account_services.team_create(
            organization=tenant_a.organization, actor=tenant_a.users["owner"], name="サポート", members=[]
        )
    body = login(tenant_a.users["admin"]).get(teams_url).content.decode()
    assert 'id="teams"' in body and "サポート" in body and 'id="teams-empty"' not in body
