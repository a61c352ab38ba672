"""Run the platform simulator: `python -m channels_integrations.simulator --port 8100 --webhook-base URL`.

`make run` starts it beside the app (config/devserver.py). With `--trickle N` a random demo customer writes every
~N seconds (Japanese and English, DMs, comments and emails), so the demo inbox stays alive."""

import argparse
import json
import logging
import os
import random
import signal
import sys
import threading
from pathlib import Path

from channels_integrations.simulator.core import Simulator, part_classes
from channels_integrations.simulator.demo_texts import TEXTS


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SIMULATOR_PORT", "8100")))
    parser.add_argument("--webhook-base", default=os.environ.get("SIMULATOR_WEBHOOK_BASE", "http://127.0.0.1:8000"))
    parser.add_argument("--trickle", type=float, default=0.0, help="seconds between demo customer messages (0: off)")
    parser.add_argument("--state-file", default="", help="write the listening ports here as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="simulator %(levelname)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    # Each part names the environment variables it reads (the app's secrets it signs webhooks with...).
    config = {
        name.lower(): os.environ[name] for part in part_classes() for name in part.environment if name in os.environ
    }
    sim = Simulator(webhook_base=args.webhook_base, host=args.host, port=args.port, **config).start()
    if args.state_file:
        state = {"base_url": sim.base_url, **{name: part.state().get("ports", {}) for name, part in sim.parts.items()}}
        Path(args.state_file).write_text(json.dumps(state))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"simulator: {sim.base_url}/_sim/ (webhooks to {sim.webhook_base})", flush=True)
    while not stop.wait(args.trickle * random.uniform(0.5, 1.5) if args.trickle else 3600):
        if not args.trickle:
            continue
        lang = random.choice(["ja", "ja", "en"])
        part = random.choice(list(sim.parts.values()))
        try:
            part.trickle(random.choice(TEXTS[lang]), lang)
        except Exception:  # a demo nicety must not take the simulator down
            logging.getLogger("tsunagu.simulator").exception("trickle failed")
    sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
