"""WhatsApp Business (Cloud API): a business phone number connected with its WhatsApp Business account id and a
system-user token, receiving webhooks on Meta's app-level `/webhooks/meta/` (object whatsapp_business_account)."""

CONNECTORS = {"whatsapp": "channels_integrations.providers.whatsapp.connector.WhatsAppConnector"}
SIMULATOR = "channels_integrations.providers.whatsapp.simulator.WhatsAppSimulator"
