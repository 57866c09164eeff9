#!/usr/bin/env python3
"""Where the machine's CPU went during a run, for scripts/bench.sh.

  cpu.py snapshot FILE                                  CPU ticks of every process, and /proc/stat
  cpu.py split BEFORE AFTER TEND_PID LOADGEN_TIME DB OUT
                                                        CPU seconds of the Tend server, PostgreSQL
                                                        (its shared processes and the backends of
                                                        database DB; "-" for all), Redis, the load
                                                        generator and the rest

LOADGEN_TIME is `/usr/bin/time -f "%e %U %S"` output for the load generator (it has exited by
the second snapshot); "-" when there is none. Stdlib only; Linux /proc.
"""

import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def processes():
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # comm is in parentheses and may hold spaces.
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        title = ""
        if comm.startswith("postgres"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    title = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                pass
        out[entry] = [comm, int(fields[11]) + int(fields[12]), title]  # utime + stime
    return out


def machine():
    with open("/proc/stat") as f:
        cpu = f.readline().split()[1:]
    values = [int(v) for v in cpu]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return {"total": sum(values[:8]), "idle": idle}


def snapshot(path):
    with open(path, "w") as f:
        json.dump({"t": time.time(), "machine": machine(), "procs": processes()}, f)


def postgres_database(title):
    """The database of a backend's title (postgres: 15/main: USER DB HOST(PORT) STATE), or None."""
    if ": " not in title:
        return None
    words = title.split(": ", 2)[-1].split()
    if len(words) >= 3 and "(" in words[2]:
        return words[1]
    return None


def split(before_path, after_path, tend_pid, loadgen_time, database, out):
    with open(before_path) as f:
        before = json.load(f)
    with open(after_path) as f:
        after = json.load(f)
    wall = after["t"] - before["t"]
    cores = os.cpu_count() or 1
    seconds = {"tend": 0.0, "postgres": 0.0, "redis": 0.0, "other": 0.0}
    for pid, (comm, ticks, title) in after["procs"].items():
        earlier = before["procs"].get(pid)
        used = ticks - (earlier[1] if earlier and earlier[0] == comm else 0)
        if used <= 0:
            continue
        if pid == tend_pid:
            kind = "tend"
        elif comm.startswith("postgres"):
            backend_of = postgres_database(title)
            kind = "postgres" if database == "-" or backend_of in (None, database) else "other"
        elif comm.startswith("redis-server"):
            kind = "redis"
        else:
            kind = "other"
        seconds[kind] += used / TICK
    loadgen = None
    if loadgen_time != "-" and os.path.exists(loadgen_time):
        with open(loadgen_time) as f:
            numbers = [line.split() for line in f if line.strip() and line.split()[0].replace(".", "", 1).isdigit()]
        if numbers:
            loadgen = float(numbers[-1][1]) + float(numbers[-1][2])
    idle_ticks = after["machine"]["idle"] - before["machine"]["idle"]
    total_ticks = after["machine"]["total"] - before["machine"]["total"]
    busy = (1 - idle_ticks / total_ticks) * wall * cores if total_ticks > 0 else None
    if busy is not None:
        # Everything else, including processes that exited during the run.
        seconds["other"] = max(0.0, busy - seconds["tend"] - seconds["postgres"] - seconds["redis"] - (loadgen or 0.0))
    result = {
        "wall_s": round(wall, 2),
        "cores": cores,
        "tend_s": round(seconds["tend"], 2),
        "postgres_s": round(seconds["postgres"], 2),
        "redis_s": round(seconds["redis"], 2),
        "loadgen_s": round(loadgen, 2) if loadgen is not None else None,
        "other_s": round(seconds["other"], 2),
        "busy_s": round(busy, 2) if busy is not None else None,
        "idle_share": round(idle_ticks / total_ticks, 3) if total_ticks > 0 else None,
    }
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


def main(argv):
    if len(argv) == 3 and argv[1] == "snapshot":
        snapshot(argv[2])
    elif len(argv) == 8 and argv[1] == "split":
        split(*argv[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
