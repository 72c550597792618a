"""POST /api/v1/admin/transactions, 1,000 items a request, 20 requests, against a fresh
`serve --demo`: the median time a batch takes. Usage: python3 bench/usage_api.py BINARY sqlite|postgres
(run two builds in alternation to compare them in one sitting)."""
import json, subprocess, sys, time, urllib.request, statistics, os, shutil
binary, backend = sys.argv[1], sys.argv[2]
pg = "postgres://postgres@127.0.0.1:5432"
data = "/tmp/usage-api-data"
shutil.rmtree(data, ignore_errors=True)
args = [binary, "serve", "--demo", "--data-dir", data, "--listen", "127.0.0.1:18190"]
if backend == "postgres":
    subprocess.run(["psql", "-q", f"{pg}/postgres", "-c", "DROP DATABASE IF EXISTS usage_api", "-c", "CREATE DATABASE usage_api"], check=True, capture_output=True)
    args += ["--database-url", f"{pg}/usage_api"]
server = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
base = "http://127.0.0.1:18190"
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/healthz"); break
    except Exception:
        time.sleep(0.1)
def post(path, body, token=None):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST", headers={"content-type": "application/json"})
    if token: req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req) as r:
        return json.load(r)
token = post("/api/v1/staff/auth/login", {"username": "admin", "password": "Staff@12345"})["token"]
sns = ["DEMO-AUTO-01", "DEMO-PROGRESS-01", "DEMO-B-01"]
times = []
for b in range(20):
    items = [{"ref": f"API-{b:03d}-{i:04d}", "sn": sns[i % 3], "amount_fen": 100 + i, "kind": "credit_card", "occurred_at": "2026-10-01T00:00:00Z"} for i in range(1000)]
    t0 = time.perf_counter(); r = post("/api/v1/admin/transactions", {"items": items}, token); times.append((time.perf_counter() - t0) * 1000)
    assert r["inserted"] == 1000, r
server.terminate(); server.wait()
print(f"{backend} {os.path.basename(binary)}: 1,000 items a request, median {statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f}) over 20")
