"""Telegram: a bot, reached by its token, receiving updates on `/webhooks/telegram/<connection uuid>/` (setWebhook
with a generated secret token) or through getUpdates long polling when the app has no public HTTPS URL."""

CONNECTORS = {"telegram": "channels_integrations.providers.telegram.connector.TelegramConnector"}
SIMULATOR = "channels_integrations.providers.telegram.simulator.TelegramSimulator"
