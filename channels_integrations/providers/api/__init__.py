"""API: a channel the organization's own systems write to through the REST API (`POST /api/v1/orgs/<slug>/tickets/`,
a web form's backend, an app, another helpdesk). There is no platform behind it: nothing arrives by webhook or
polling, and agents' replies are stored on the ticket (marked sent) for those systems to read back through the API
(`GET .../tickets/<id>/messages/`) — nothing is delivered anywhere."""

CONNECTORS = {"api": "channels_integrations.providers.api.connector.ApiConnector"}
SIMULATOR = ""
