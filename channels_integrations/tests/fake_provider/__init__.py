"""A made-up platform written the way a real one is added: this package and one line in the registry (the test adds
the line, tests/test_adding_a_platform.py). `fakechat` signs webhooks per connection and is connected with a form;
`fakewa` shares Meta's app-level endpoint like WhatsApp Cloud API payloads (`object: whatsapp_business_account`)."""

CONNECTORS = {
    "fakechat": "channels_integrations.tests.fake_provider.connector.FakeChatConnector",
    "fakewa": "channels_integrations.tests.fake_provider.connector.FakeWhatsAppConnector",
}
SIMULATOR = "channels_integrations.tests.fake_provider.simulator.FakeChatSimulator"
