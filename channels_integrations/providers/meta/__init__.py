"""Meta: Facebook pages (Messenger, feed comments) and Instagram professional accounts (DMs, comments, mentions),
connected together through Facebook Login, with one app-level webhook endpoint (`/webhooks/meta/`)."""

CONNECTORS = {
    "facebook": "channels_integrations.providers.meta.connector.FacebookConnector",
    "instagram": "channels_integrations.providers.meta.connector.InstagramConnector",
}
SIMULATOR = "channels_integrations.providers.meta.simulator.MetaSimulator"
