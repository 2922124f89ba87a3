"""The seed's ApiUser against pressure-probe's demo service, in steps.

`cargo xtask loadtest` runs it headless. Environment:
  PP_STEPS         users at each step, comma-separated (default 10,20,40,80)
  PP_STEP_SECONDS  seconds per step (default 30)
  PP_THINK_SCALE   scales the seed's think time, between(1, 3) s (default 1)
  PP_REQUEST_LOG   a CSV file: one line per request (end time, name,
                   response ms, failed), and one per step start
                   (time, STEP, index, users)
"""

import os
import time

from locust import HttpUser, LoadTestShape, between, events, task

THINK = float(os.environ.get("PP_THINK_SCALE", "1"))
STEPS = [int(users) for users in os.environ.get("PP_STEPS", "10,20,40,80").split(",")]
STEP_SECONDS = float(os.environ.get("PP_STEP_SECONDS", "30"))
LOG = open(os.environ["PP_REQUEST_LOG"], "w", buffering=1) if "PP_REQUEST_LOG" in os.environ else None


class ApiUser(HttpUser):
    """The seed's user: reads the dashboard and creates events."""

    wait_time = between(1 * THINK, 3 * THINK)

    @task
    def read_dashboard(self):
        self.client.get("/api/dashboard")

    @task
    def create_event(self):
        self.client.post("/api/events", json={"type": "check"})


class Steps(LoadTestShape):
    """A step ramp: STEPS users, STEP_SECONDS each, all users of a step
    started at once."""

    current = -1

    def tick(self):
        index = int(self.get_run_time() // STEP_SECONDS)
        if index >= len(STEPS):
            return None
        if index != self.current:
            self.current = index
            if LOG:
                LOG.write(f"{time.time():.6f},STEP,{index},{STEPS[index]}\n")
        return (STEPS[index], STEPS[index])


@events.request.add_listener
def record(request_type, name, response_time, exception, **kwargs):
    if LOG:
        LOG.write(f"{time.time():.6f},{name},{response_time:.3f},{1 if exception else 0}\n")
