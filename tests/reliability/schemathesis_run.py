"""Schemathesis against the served OpenAPI document, with valid credentials of each role.

A throwaway database gets the demo data of the two seed counties; `huxiao serve` runs on it; then `st run` fuzzes
every operation once per credential — admin, commander, officer, viewer (tokens) and a viewer API key — with the
checks: no server error, documented status codes, documented content types, responses matching their schemas
(problem+json included). Cases generated and failures are summed over the runs; any failure fails the suite.

    python -m tests.reliability.schemathesis_run      (or: make test-reliability)

Parameters: HUXIAO_ST_MAX_EXAMPLES (examples per operation and phase, default 10), HUXIAO_ST_WORKERS (2),
HUXIAO_ST_ROLES (e.g. `admin,officer`: only these credentials; default all). Each run's full output is kept in
`<the server's data dir>/schemathesis/<credential>/output.txt`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.reliability.common import (
    ServerGroup,
    env_int,
    log,
    server_url,
    throwaway_database,
    write_results,
)

ST = Path(sys.executable).with_name("st")
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"
# The live feed never ends (a fuzzer would wait on it), and logging out or refreshing would end the very login
# the run uses: those are covered by tests/test_owasp_api2_authentication.py instead.
EXCLUDED = r"^/v1/stream$|^/v1/auth/(logout|refresh|token)$"


def _st(base_url: str, header: str, *, max_examples: int, workers: int, report: Path
        ) -> tuple[int, int, int, str]:
    """One `st run`: (cases generated, failures found in the API, errors of the tool itself, output tail)."""
    out = subprocess.run(
        [str(ST), "run", f"{base_url}/openapi.json", "-H", header, "--checks", CHECKS,
         "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", str(max_examples), "-w", str(workers),
         "--exclude-path-regex", EXCLUDED, "--suppress-health-check", "all",
         "--report", "junit", "--report-dir", str(report)],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"}, timeout=3600)
    text = out.stdout + out.stderr
    report.mkdir(parents=True, exist_ok=True)
    (report / "output.txt").write_text(text)
    generated = sum(int(n) for n in re.findall(r"(\d+) generated", text))
    failures = sum(int(n) for n in re.findall(r"(\d+) unique failures?", text))
    # Errors of the fuzzer itself (e.g. hypothesis' "AST constructor recursion depth mismatch" under threads on
    # CPython 3.11) are reported, not counted against the API; any other non-zero exit is.
    tool_errors = sum(int(n) for n in re.findall(r"Runtime Error: (\d+)", text))
    if out.returncode != 0 and failures == 0 and tool_errors == 0:
        failures = 1
    return generated, failures, tool_errors, text[-4000:]


def main() -> None:
    from cli.demo import DEMO_LOGINS

    url = throwaway_database(server_url(), "huxiao_st")
    seed = subprocess.run([str(Path(sys.executable).with_name("huxiao")), "seed-demo"],
                          env={**os.environ, "DATABASE_URL": url}, capture_output=True, text=True)
    if seed.returncode != 0:
        raise SystemExit(f"seeding the demo data failed:\n{seed.stdout}\n{seed.stderr}")
    server = ServerGroup(url, workers=1)
    server.start()
    try:
        server.wait_ready()
        headers: dict[str, str] = {}
        roles = {r.strip() for r in os.environ.get("HUXIAO_ST_ROLES", "").split(",") if r.strip()}
        with httpx.Client(base_url=server.base_url, timeout=30) as http:
            for username, password, role in DEMO_LOGINS:
                if role in headers:
                    continue
                r = http.post("/v1/auth/token", data={"username": username, "password": password})
                r.raise_for_status()
                headers[role] = f"Authorization: Bearer {r.json()['access_token']}"
            admin = headers["admin"]
            code = http.get("/v1/me", headers=dict([admin.split(": ", 1)])).json()["jurisdiction_code"]
            key = http.post("/v1/api-keys", headers=dict([admin.split(": ", 1)]),
                            json={"name": "schemathesis", "jurisdiction_code": code}).json()["key"]
            headers["viewer key"] = f"X-API-Key: {key}"
        headers = {who: h for who, h in headers.items() if not roles or who in roles}
        max_examples = env_int("HUXIAO_ST_MAX_EXAMPLES", 10)
        workers = env_int("HUXIAO_ST_WORKERS", 2)
        figures: dict = {"max_examples": max_examples, "runs": {}}
        total_cases = total_failures = 0
        report_dir = server.data_dir / "schemathesis"
        for who, header in headers.items():
            log(f"schemathesis as {who} …")
            generated, failures, tool_errors, tail = _st(
                server.base_url, header, max_examples=max_examples, workers=workers,
                report=report_dir / who.replace(" ", "_"))
            log(f"  {generated:,} cases, {failures} failures, {tool_errors} errors of the fuzzer itself")
            if failures:
                print(tail)
            figures["runs"][who] = {"cases": generated, "failures": failures, "tool_errors": tool_errors}
            total_cases += generated
            total_failures += failures
        figures.update(cases=total_cases, failures=total_failures)
        path = write_results("schemathesis", figures)
        log(f"schemathesis: {total_cases:,} cases over {len(headers)} credentials, {total_failures} failures "
            f"({path})")
        if total_failures or total_cases < 5000:
            raise SystemExit(1)
    finally:
        server.stop()
        from cli.databases import drop_database

        drop_database(url)


if __name__ == "__main__":
    main()
