"""LINE Official Account (Messaging API): webhooks on `/webhooks/line/<connection uuid>/` signed with the channel
secret, replies by reply token or push with a retry key, content downloads, profiles and the monthly quota."""

CONNECTORS = {"line": "channels_integrations.providers.line.connector.LineConnector"}
SIMULATOR = "channels_integrations.providers.line.simulator.LineSimulator"
