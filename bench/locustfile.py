"""The load test's virtual users: a realistic mix over 20 tenants, each user checking
what it reads. Run it through `python -m bench.load` (which starts the servers and
judges the result), or by hand:

    locust -f bench/locustfile.py --headless -u 20 -r 10 -t 30s --host http://127.0.0.1:8000

Every virtual user belongs to one of 20 tenants (made by its process on first use) and
logs in as that tenant's admin. It fails a request that answers 5xx, or that shows a
row of another tenant. Every acknowledged create and upload is remembered; when the run
stops, each is read back (users by id, files by id with their sha256), and the counts
go to the JSON file named by LOAD_RESULTS (default reports/load-results.json).
"""

import hashlib
import itertools
import json
import os
import random
import uuid
from pathlib import Path
from typing import Any

import gevent.lock
import httpx
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

TENANTS = 20
RESULTS = Path(os.environ.get("LOAD_RESULTS", "reports/load-results.json"))

_tenants: dict[int, dict[str, str]] = {}
_tenants_lock = gevent.lock.Semaphore()
_next_tenant = itertools.count()  # users take the tenants in turn, so all 20 are used
acknowledged_users: dict[str, str] = {}  # user id -> tenant id
acknowledged_files: dict[str, tuple[str, str]] = {}  # file id -> (tenant id, sha256)
cross_tenant_rows: list[str] = []


def _tenant(host: str, index: int) -> dict[str, str]:
    """Tenant number `index` of this process: registered once, then shared."""
    with _tenants_lock:
        if index not in _tenants:
            tag = uuid.uuid4().hex[:10]
            admin = {"username": f"load{tag}", "password": f"Load-{tag}-pw"}
            registered = httpx.post(
                f"{host}/auth/register",
                json={
                    "tenant_name": f"Load {index} {tag}",
                    "admin_username": admin["username"],
                    "admin_email": f"load{tag}@load.example.org",
                    "admin_password": admin["password"],
                },
                timeout=60,
            )
            registered.raise_for_status()
            _tenants[index] = {**admin, "tenant_id": registered.json()["tenant_id"]}
        return _tenants[index]


class TenantAdmin(HttpUser):
    wait_time = between(0.05, 0.3)

    def on_start(self) -> None:
        assert self.host is not None
        self.tenant = _tenant(self.host, next(_next_tenant) % TENANTS)
        self.user_ids: list[str] = []
        self.file_ids: list[str] = []
        self.login()

    def _check(self, response: Any, rows: list[dict[str, Any]] | None = None) -> None:
        if response.status_code >= 500:
            response.failure(f"server error {response.status_code}")
            return
        for row in rows or []:
            if row.get("tenant_id") != self.tenant["tenant_id"]:
                cross_tenant_rows.append(str(row.get("id")))
                response.failure(f"row of another tenant: {row.get('id')}")
                return

    @task(1)
    def login(self) -> None:
        body = {"username": self.tenant["username"], "password": self.tenant["password"]}
        with self.client.post("/auth/login", json=body, catch_response=True) as response:
            self._check(response)
            if response.status_code == 200:
                token = response.json()["access_token"]
                self.client.headers["Authorization"] = f"Bearer {token}"

    @task(4)
    def list_users(self) -> None:
        with self.client.get(
            "/api/v1/users?page_size=20", name="/api/v1/users", catch_response=True
        ) as response:
            rows = response.json()["data"] if response.status_code == 200 else []
            self._check(response, rows)

    @task(3)
    def get_user(self) -> None:
        if not self.user_ids:
            return
        user_id = random.choice(self.user_ids)  # noqa: S311 - a workload, not a secret
        with self.client.get(
            f"/api/v1/users/{user_id}", name="/api/v1/users/{id}", catch_response=True
        ) as response:
            self._check(response, [response.json()] if response.status_code == 200 else [])

    @task(2)
    def create_user(self) -> None:
        tag = uuid.uuid4().hex[:12]
        payload = {
            "username": f"m{tag}",
            "email": f"m{tag}@load.example.org",
            "password": f"Member-{tag}",
        }
        with self.client.post("/api/v1/users", json=payload, catch_response=True) as response:
            self._check(response, [response.json()] if response.status_code == 201 else [])
            if response.status_code == 201:
                self.user_ids.append(response.json()["id"])
                acknowledged_users[response.json()["id"]] = self.tenant["tenant_id"]

    @task(1)
    def upload_file(self) -> None:
        content = f"load test notes {uuid.uuid4()}\n".encode() * 50
        files = {"file": ("notes.txt", content, "text/plain")}
        with self.client.post("/api/v1/files/upload", files=files, catch_response=True) as response:
            self._check(response, [response.json()] if response.status_code == 201 else [])
            if response.status_code == 201:
                file_id = response.json()["id"]
                self.file_ids.append(file_id)
                digest = hashlib.sha256(content).hexdigest()
                acknowledged_files[file_id] = (self.tenant["tenant_id"], digest)

    @task(2)
    def download_file(self) -> None:
        if not self.file_ids:
            return
        file_id = random.choice(self.file_ids)  # noqa: S311 - a workload, not a secret
        with self.client.get(
            f"/api/v1/files/{file_id}", name="/api/v1/files/{id}", catch_response=True
        ) as response:
            self._check(response)
            expected = acknowledged_files[file_id][1]
            if (
                response.status_code == 200
                and hashlib.sha256(response.content).hexdigest() != expected
            ):
                response.failure("downloaded bytes differ from the upload")


@events.test_stop.add_listener  # type: ignore[untyped-decorator]
def read_back(environment: Environment, **_: Any) -> None:
    """Every acknowledged write, read back as its tenant's admin after the run (in each
    process that ran users; a distributed run's workers write one file each)."""
    if isinstance(environment.runner, MasterRunner):
        return
    results = RESULTS
    if isinstance(environment.runner, WorkerRunner):
        results = RESULTS.with_name(f"{RESULTS.stem}-{os.getpid()}{RESULTS.suffix}")
    host = environment.host or ""
    missing: list[str] = []
    for index, tenant in _tenants.items():
        login = httpx.post(
            f"{host}/auth/login",
            json={"username": tenant["username"], "password": tenant["password"]},
            timeout=60,
        )
        login.raise_for_status()
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        with httpx.Client(base_url=host, headers=headers, timeout=60) as http:
            for user_id, owner in acknowledged_users.items():
                if (
                    owner == tenant["tenant_id"]
                    and http.get(f"/api/v1/users/{user_id}").status_code != 200
                ):
                    missing.append(f"user {user_id} of tenant {index}")
            for file_id, (owner, digest) in acknowledged_files.items():
                if owner != tenant["tenant_id"]:
                    continue
                download = http.get(f"/api/v1/files/{file_id}")
                if (
                    download.status_code != 200
                    or hashlib.sha256(download.content).hexdigest() != digest
                ):
                    missing.append(f"file {file_id} of tenant {index}")
    results.parent.mkdir(parents=True, exist_ok=True)
    results.write_text(
        json.dumps(
            {
                "tenants": len(_tenants),
                "acknowledged_users": len(acknowledged_users),
                "acknowledged_files": len(acknowledged_files),
                "missing_after_run": missing,
                "cross_tenant_rows": cross_tenant_rows,
            },
            indent=2,
        )
    )
