"""Phone: calls reported by a Twilio-style telephony provider's voice webhooks on `/webhooks/phone/<connection uuid>/`
(the incoming-call request answered with TwiML, call status, recording and transcription callbacks, each signed with
`X-Twilio-Signature`). Calls become call entries in one ticket per caller; a missed call asks for a call back."""

CONNECTORS = {"phone": "channels_integrations.providers.phone.connector.PhoneConnector"}
SIMULATOR = "channels_integrations.providers.phone.simulator.PhoneSimulator"
