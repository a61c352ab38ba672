"""X (formerly Twitter): mentions and direct messages, through Account Activity webhooks at `/webhooks/x/` or polling,
connected with OAuth 2.0 + PKCE."""

CONNECTORS = {"x": "channels_integrations.providers.x.connector.XConnector"}
SIMULATOR = "channels_integrations.providers.x.simulator.XSimulator"
