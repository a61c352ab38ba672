"""The fake platform's far end: a customer who writes (a signed webhook) and the send endpoint."""

import json
import uuid

from channels_integrations.simulator.core import Request, Response, SimulatorPart
from channels_integrations.tests.fake_provider.connector import SIGNATURE, sign


class FakeChatSimulator(SimulatorPart):
    name = "fakechat"

    def __init__(self, sim):
        super().__init__(sim)
        self.sent: list[dict] = []

    def routes(self):
        return [("POST", r"/fakechat/send", self._send)]

    def _send(self, request: Request, match) -> Response:
        message = {**json.loads(request.body), "id": f"fc-{uuid.uuid4().hex[:8]}"}
        self.sent.append(message)
        return Response(200, {"id": message["id"]})

    def customer_writes(self, *, connection_uuid, secret: str, sender: str, text: str) -> int:
        body = json.dumps({"events": [{"id": uuid.uuid4().hex, "from": sender, "name": "Fake Customer", "text": text}]})
        headers = {"Content-Type": "application/json", SIGNATURE: sign(secret, body.encode())}
        return self.sim.deliver(f"/webhooks/fakechat/{connection_uuid}/", body.encode(), headers)

    def state(self) -> dict:
        return {"sent": self.sent}
