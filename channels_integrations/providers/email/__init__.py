"""Email: a mailbox polled over IMAP and answered over SMTP, or fed by an inbound-parse webhook (raw MIME)."""

CONNECTORS = {"email": "channels_integrations.providers.email.connector.EmailConnector"}
SIMULATOR = "channels_integrations.providers.email.simulator.EmailSimulator"
