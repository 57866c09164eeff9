#!/usr/bin/env python3
"""Raw limits of this machine, for scripts/bench.sh: what the stores do without Tend.

  raw.py postgres URL ROWS BATCH OUT.json   batched multi-row INSERT (and COPY) into a table
                                            shaped like ingest's interactions, in database URL
                                            (a scratch database the caller creates and drops)
  raw.py sqlite DIR ROWS BATCH OUT.json     the same INSERTs into a SQLite file in DIR, WAL mode,
                                            synchronous=NORMAL (Tend's embedded settings)
  raw.py redis URL N KEY OUT.json           XADD of ~300-byte entries to KEY, plain and pipelined
                                            (redis-benchmark); the caller deletes KEY

Stdlib only. Every figure is rows (or entries) per second, wall time around the client.
"""

import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

TABLE = """CREATE TABLE posts (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    channel integer NOT NULL,
    external_id text NOT NULL,
    author text NOT NULL,
    body text NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (tenant, channel, external_id)
)"""

BODIES = [
    "Order #{n} still hasn't arrived after 9 days. Nobody answers the phone. @Acme this is ridiculous",
    "Thinking of switching to Globex, Acme keeps getting worse",
    "Hi Acme, how do I change the delivery address on order #{n}?",
    "Is Acme down? App won't load for me",
]


def rows(count, seed=1):
    rng = random.Random(seed)
    for n in range(count):
        yield (
            str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "bench",
            1 + n % 6,
            f"raw-{n}",
            f"author-{rng.randrange(20000)}",
            BODIES[n % len(BODIES)].format(n=1_000_000 + n),
        )


def quote(text):
    return "'" + text.replace("'", "''") + "'"


def psql(url, *args, stdin=None):
    return subprocess.run(
        ["psql", url, "-X", "-q", "-v", "ON_ERROR_STOP=1", *args],
        input=stdin,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def postgres(url, count, batch, out):
    psql(url, "-c", TABLE)
    with tempfile.TemporaryDirectory() as tmp:
        sql = os.path.join(tmp, "insert.sql")
        with open(sql, "w") as f:
            chunk = []
            for row in rows(count):
                chunk.append(f"({quote(row[0])},{quote(row[1])},{row[2]},{quote(row[3])},{quote(row[4])},{quote(row[5])})")
                if len(chunk) == batch:
                    f.write("INSERT INTO posts (id, tenant, channel, external_id, author, body) VALUES\n")
                    f.write(",\n".join(chunk) + ";\n")
                    chunk = []
            if chunk:
                f.write("INSERT INTO posts (id, tenant, channel, external_id, author, body) VALUES\n")
                f.write(",\n".join(chunk) + ";\n")
        start = time.perf_counter()
        psql(url, "-f", sql)  # autocommit: one transaction (and one synchronous commit) per INSERT
        insert_s = time.perf_counter() - start
        inserted = int(psql(url, "-At", "-c", "SELECT count(*) FROM posts").strip())

        psql(url, "-c", "TRUNCATE posts")
        csv_path = os.path.join(tmp, "rows.csv")
        with open(csv_path, "w") as f:
            for row in rows(count, seed=2):
                f.write(",".join(f'"{v}"' if isinstance(v, str) else str(v) for v in row) + "\n")
        start = time.perf_counter()
        psql(url, "-c", f"\\copy posts (id, tenant, channel, external_id, author, body) FROM '{csv_path}' CSV")
        copy_s = time.perf_counter() - start
    synchronous_commit = psql(url, "-At", "-c", "SHOW synchronous_commit").strip()
    autovacuum = psql(url, "-At", "-c", "SHOW autovacuum").strip()
    version = psql(url, "-At", "-c", "SHOW server_version").strip()
    result = {
        "rows": inserted,
        "batch": batch,
        "insert_seconds": round(insert_s, 3),
        "insert_rows_per_s": round(inserted / insert_s),
        "copy_seconds": round(copy_s, 3),
        "copy_rows_per_s": round(count / copy_s),
        "synchronous_commit": synchronous_commit,
        "autovacuum": autovacuum,
        "server_version": version,
    }
    write(out, result)


def sqlite(directory, count, batch, out):
    path = os.path.join(directory, "raw.db")
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE posts (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, channel INTEGER NOT NULL, "
        "external_id TEXT NOT NULL, author TEXT NOT NULL, body TEXT NOT NULL, "
        "received_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP, UNIQUE (tenant, channel, external_id))"
    )
    all_rows = list(rows(count))
    placeholders = "(" + ",".join("?" * 6) + ")"
    start = time.perf_counter()
    for at in range(0, count, batch):
        chunk = all_rows[at : at + batch]
        flat = [value for row in chunk for value in row]
        db.execute("BEGIN")
        # One multi-row INSERT per statement, up to SQLite's parameter limit.
        step = max(1, 32766 // 6)
        for sub in range(0, len(chunk), step):
            part = flat[sub * 6 : (sub + step) * 6]
            db.execute(
                "INSERT INTO posts (id, tenant, channel, external_id, author, body) VALUES "
                + ",".join([placeholders] * (len(part) // 6)),
                part,
            )
        db.execute("COMMIT")
    seconds = time.perf_counter() - start
    inserted = db.execute("SELECT count(*) FROM posts").fetchone()[0]
    db.close()
    for suffix in ("", "-wal", "-shm"):
        try:
            os.remove(path + suffix)
        except FileNotFoundError:
            pass
    write(
        out,
        {
            "rows": inserted,
            "batch": batch,
            "insert_seconds": round(seconds, 3),
            "insert_rows_per_s": round(inserted / seconds),
            "journal_mode": "wal",
            "synchronous": "normal",
            "sqlite_version": sqlite3.sqlite_version,
        },
    )


def redis_benchmark(url, n, key, pipeline, clients):
    payload = "x" * 300
    out = subprocess.run(
        ["redis-benchmark", "-u", url, "-n", str(n), "-c", str(clients), "-P", str(pipeline), "--csv",
         "XADD", key, "*", "payload", payload],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = [line for line in out.splitlines() if line.startswith('"XADD')][-1]
    fields = [field.strip('"') for field in line.split('","')]
    return {"per_s": round(float(fields[1])), "p50_ms": float(fields[4]), "p99_ms": float(fields[6])}


def redis(url, n, key, out):
    plain = redis_benchmark(url, max(n // 4, 1000), key, 1, 50)
    piped = redis_benchmark(url, n, key, 100, 50)
    version = subprocess.run(["redis-cli", "-u", url, "INFO", "server"], capture_output=True, text=True).stdout
    version = next((line.split(":", 1)[1].strip() for line in version.splitlines() if line.startswith("redis_version")), "")
    write(
        out,
        {
            "entries": n,
            "entry_bytes": 300,
            "clients": 50,
            "pipeline": 100,
            "xadd_plain_per_s": plain["per_s"],
            "xadd_plain_p50_ms": plain["p50_ms"],
            "xadd_pipelined_per_s": piped["per_s"],
            "server_version": version,
        },
    )


def write(path, value):
    with open(path, "w") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
    print(json.dumps(value))


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    kind = argv[1]
    if kind == "postgres" and len(argv) == 6:
        postgres(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif kind == "sqlite" and len(argv) == 6:
        sqlite(argv[2], int(argv[3]), int(argv[4]), argv[5])
    elif kind == "redis" and len(argv) == 6:
        redis(argv[2], int(argv[3]), argv[4], argv[5])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
