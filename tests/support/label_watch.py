"""A client of a version label: predicts through it on every pod, every 50 ms, and keeps what
each answer said. The test models answer y = x * version, so each answer also tells which
version served it."""

import math
import threading
import time

import requests
from kubernetes import client

from support.tfmodel_api import serving_pods

NOT_A_VERSION = 0  # recorded when the answer is an error, or not a finite number
NO_ANSWER = 0  # the HTTP status recorded when the pod did not answer at all


class LabelWatch(threading.Thread):
    def __init__(self, ips: list[str], label: str, model: str = "vgg16") -> None:
        super().__init__(daemon=True)
        self.ips, self.label, self.model = ips, label, model
        self.samples: list[tuple[float, str, int, int]] = []  # (time, ip, HTTP status, version)
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            for ip in self.ips:
                url = f"http://{ip}:8501/v1/models/{self.model}/labels/{self.label}:predict"
                try:
                    response = requests.post(url, json={"instances": [[1.0, 1.0]]}, timeout=2)
                except requests.RequestException:
                    self.samples.append((time.monotonic(), ip, NO_ANSWER, NOT_A_VERSION))
                    continue
                version = NOT_A_VERSION
                if response.ok:
                    value = response.json()["predictions"][0][0]
                    version = round(value) if math.isfinite(value) else NOT_A_VERSION
                self.samples.append((time.monotonic(), ip, response.status_code, version))

    def stop(self) -> None:
        self.done.set()
        self.join()

    def failures(self) -> list[tuple[float, str, int, int]]:
        """Answers that were errors or not finite numbers."""
        return [s for s in self.samples if s[2] != 200 or s[3] == NOT_A_VERSION]

    def latest(self) -> dict[str, int]:
        return {ip: version for _, ip, _, version in self.samples}

    def first_time_all_resolve(self, version: int, after: float) -> float:
        first: dict[str, float] = {}
        for at, ip, _, resolved in self.samples:
            if at >= after and resolved == version and ip not in first:
                first[ip] = at
        assert set(first) == set(self.ips), f"not every pod served {self.label}={version}"
        return max(first.values())


def watch_label(core: client.CoreV1Api, namespace: str, tfmodel: str, label: str) -> LabelWatch:
    """A client of `label` on every serving pod of `tfmodel`, started."""
    ips = [p.status.pod_ip for p in serving_pods(core, namespace, tfmodel)]
    watch = LabelWatch(ips, label, model=tfmodel)
    watch.start()
    return watch
