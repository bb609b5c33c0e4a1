"""Seed 004's write-contention experiment for Locust users: many bidders racing on one item.

    AUTH_MODE=open BID_RATE_LIMIT_PER_S=1000 AUTO_OPEN_ITEMS=true npm start      # the stack
    BID_STRATEGY=lua locust -f bench/locust/locustfile.py --headless -u 100 -r 20 -t 30s \
        ContendedItemBidder --host=http://127.0.0.1:8080 --csv=locust --only-summary

Every simulated user is its own bidder (`user_id` in the body: open mode) and bids one cent above
the highest bid it knows of on the same item (CONTENDED_ITEM, default a fresh `contended_<time>`,
opened by its first bid). A 201 is an accepted bid; a 409 `bid_too_low` is a race lost to another
bidder, counted under its own name and not as a failure (it is what the experiment provokes); the
answer's `highestCents` tells the bidder where the price now stands. 429 (rate limited) and 5xx
are failures. BID_STRATEGY is the api's setting (lua or optimistic), passed here only to label the
run; the server decides.
"""

import os
import time
import uuid

from locust import HttpUser, constant_throughput, task

ITEM = os.environ.get("CONTENDED_ITEM", f"contended_{int(time.time())}")
STRATEGY = os.environ.get("BID_STRATEGY", "lua")
# Each user sends at most this many bids per second: below the api's per-user limit
# (BID_RATE_LIMIT_PER_S, 20 by default) so that 429s mean a misconfigured run, not contention.
BIDS_PER_USER_PER_S = float(os.environ.get("BIDS_PER_USER_PER_S", "10"))


class ContendedItemBidder(HttpUser):
    """One bidder on the contended item, bidding just above the highest bid it has seen."""

    wait_time = constant_throughput(BIDS_PER_USER_PER_S)

    def on_start(self):
        self.user_id = f"locust_{uuid.uuid4().hex[:12]}"
        self.highest_cents = 100

    @task
    def bid(self):
        cents = self.highest_cents + 1
        with self.client.post(
            f"/api/v1/items/{ITEM}/bid",
            json={"user_id": self.user_id, "amount": f"{cents / 100:.2f}"},
            name=f"bid ({STRATEGY})",
            catch_response=True,
        ) as response:
            if response.status_code == 201:
                self.highest_cents = cents
                response.success()
            elif response.status_code == 409:
                body = response.json()
                self.highest_cents = max(self.highest_cents, int(body.get("highestCents") or 0))
                # A lost race: reported as its own request name, not as a failure.
                response.request_meta["name"] = f"bid ({STRATEGY}) lost race: {body.get('error')}"
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}: {response.text[:120]}")
