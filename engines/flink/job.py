"""boontadata's Flink engine: the Flink SQL job of job.sql, submitted from PyFlink.

SQL rather than the DataStream API because the whole computation is four
statements that read like the SPEC itself (job.sql says what each does): a
source with a watermark, a deduplication, a tumbling window. Against the native
engine (engines/native):

- Event time: the watermark is generated per Kafka partition by the source. A
  window fires once the watermark reaches its end. Flink's default, unlike
  native's idle timeout: a silent partition holds the watermark back (see the
  `idle` scenario). With table.exec.source.idle-timeout, the partitions idle
  before the stream starts let the first one read race ahead, and the others'
  first events were dropped as late; --idle-timeout-ms is not used.
- Allowed lateness: window TVFs have none (only the legacy GROUP BY TUMBLE has
  the experimental table.exec.emit.allow-lateness), so --allowed-lateness-ms is
  not honoured: whatever arrives behind the watermark is dropped.
- Deduplication: ROW_NUMBER() ... = 1 by id before the window; ids are kept for
  table.exec.state.ttl = --dedup-horizon-ms.
- With --ids true each row also names the ids its window counted, ARRAY_AGG(id)
  beside the sums (job.sql's lines marked `-- with --ids true`): the same rows,
  after the deduplication, so that count is the length of ids.
- Malformed records: json.ignore-parse-errors skips what is not JSON and nulls
  ill-typed fields, which the WHERE drops. Flink SQL counts neither; the
  `malformed` metric comes from the operators' record counters instead.
- Results are written at least once: exactly once would hold every row until
  the next checkpoint completes. Checkpoints go to --state-dir; a job started
  again on a state folder a killed one left restores its latest completed
  checkpoint (execution.state-recovery.path), as Flink's users restore a
  failed job: its windows, its dedup state and its Kafka offsets. The rows the
  killed job emitted after that checkpoint are emitted again, with the same
  values.

It runs in an embedded mini-cluster, in a standalone cluster it starts
(--cluster local) or in an existing one (--cluster HOST:PORT, its REST address).
The harness's further jobs (engines/protocol.py) run in the same process, each
in a mini-cluster of its own, or in the same cluster.
"""

import ctypes
import json
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pyflink
from pyflink.common import Configuration
from pyflink.table import EnvironmentSettings, TableEnvironment

HERE = Path(__file__).resolve().parent
# engines/protocol.py, shared by the Python engines, in the checkout the harness gives (this folder may be a copy elsewhere).
sys.path.insert(0, str(Path(os.environ.get("BOONTADATA_HOME", HERE.parent.parent)) / "engines"))
from protocol import Jobs, job_parser, say_version  # noqa: E402

# The engine's name, its folder's: what its rows say, and its folder of the cache.
ENGINE = os.environ.get("BOONTADATA_ENGINE", "flink")
CACHE = Path(os.environ.get("BOONTADATA_CACHE", Path.home() / ".cache" / "boontadata")) / ENGINE
SQL = HERE / "job.sql"
# job.sql's lines that are there only with --ids true end with this.
IDS_ONLY = "-- with --ids true"


def interval(ms):
    """A SQL interval of any length (SECOND alone stops at 99)."""
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    d, h = divmod(h, 24)
    return f"INTERVAL '{d} {h:02}:{m:02}:{s:02}.{ms:03}' DAY TO SECOND(3)"


def statements(a):
    """job.sql's statements, filled in for job `a`."""
    time_column = {
        "event-time": f"TO_TIMESTAMP_LTZ(dt, 3), WATERMARK FOR t AS t - {interval(a.out_of_orderness_ms)}",
        "processing-time": "PROCTIME()",
    }[a.mode]
    values = {"TIME_COLUMN": time_column, "BROKERS": a.brokers, "EVENTS": a.events, "RESULTS": a.results, "GROUP": a.group,
              "ENGINE": ENGINE, "MODE": a.mode, "WINDOW": interval(a.window_ms)}
    lines = []
    for line in SQL.read_text().splitlines():
        if line.lstrip().startswith("--"):
            continue
        if line.endswith(IDS_ONLY):  # the ids of the events counted, only when the job asks for them
            if not a.ids:
                continue
            line = line.removesuffix(IDS_ONLY).rstrip()
        lines.append(line)
    without_comments = "\n".join(lines)
    sql = string.Template(without_comments).substitute(values)
    return [s.strip() for s in sql.split(";") if s.strip()]


def free_ports(n):
    """n distinct free ports on 127.0.0.1: held bound together until all are found, so that none is given twice."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def rest(address, path):
    with urllib.request.urlopen(f"http://{address}{path}", timeout=5) as r:
        return json.load(r)


def die_with_us():
    """Runs in a child before exec: it gets SIGTERM if this process dies, however it dies."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# Every server of a cluster this job starts listens on 127.0.0.1 only (the blob server binds jobmanager.bind-host);
# the REST metrics are refreshed often enough to tell the moment the source starts fetching.
LOOPBACK_ONLY = {
    "rest.address": "127.0.0.1", "rest.bind-address": "127.0.0.1",
    "jobmanager.rpc.address": "127.0.0.1", "jobmanager.bind-host": "127.0.0.1",
    "taskmanager.host": "127.0.0.1", "taskmanager.bind-host": "127.0.0.1",
    "metrics.fetcher.update-interval": "500 ms",
}


class LocalCluster:
    """A standalone jobmanager and taskmanager on 127.0.0.1, for the jobs of this process only."""

    # A port found free can be taken by another process before the cluster binds it: a start that
    # fails is tried again on new ports.
    TRIES = 3

    def __init__(self, work, slots):
        for left in reversed(range(self.TRIES)):
            if self.start(work, slots):
                return
            self.stop()
            if not left:
                sys.exit(f"{ENGINE}: the local cluster did not come up in {self.TRIES} tries, the last on {self.rest}; see its log above")
            print(f"{ENGINE}: the local cluster did not come up on {self.rest}: trying again on new ports", file=sys.stderr)

    def start(self, work, slots):
        """Starts the jobmanager and a taskmanager of `slots` task slots on new ports; whether they serve."""
        rest_port, rpc_port = free_ports(2)
        self.rest = f"127.0.0.1:{rest_port}"
        bin_dir = Path(pyflink.__file__).parent / "bin"
        options = {
            **LOOPBACK_ONLY, "rest.port": rest_port, "jobmanager.rpc.port": rpc_port,
            "jobmanager.memory.process.size": "1024m", "taskmanager.memory.process.size": "1280m",
            "taskmanager.numberOfTaskSlots": slots,
        }
        dynamic = [arg for k, v in options.items() for arg in ("-D", f"{k}={v}")]
        quiet = "-Dconsole.log.level=WARN"  # their log goes to the engine's, which is for the job's story
        env = dict(os.environ, FLINK_LOG_DIR=work, FLINK_PID_DIR=work, FLINK_ENV_JAVA_OPTS_JM=quiet, FLINK_ENV_JAVA_OPTS_TM=quiet)
        self.processes = [
            subprocess.Popen([bin_dir / script, "start-foreground", *dynamic], env=env, stdin=subprocess.DEVNULL,
                             stdout=sys.stderr, preexec_fn=die_with_us, start_new_session=True)
            for script in ("jobmanager.sh", "taskmanager.sh")
        ]
        deadline = time.monotonic() + 120
        while not self.serving():
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                return False
            time.sleep(0.5)
        return True

    def serving(self):
        try:
            return rest(self.rest, "/overview")["taskmanagers"] > 0
        except OSError:
            return False

    def stop(self):
        for p in self.processes:
            p.terminate()
        for p in self.processes:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()


COUNTERS = {"fetch-total", "numRecordsIn", "numRecordsOut", "numRecordsSend", "numLateRecordsDropped"}


def counters(address, job_id):
    """Per task (source first), its operators' counters summed over subtasks: [{"Source__events": {"numRecordsIn": 327, ...}}, ...].
    Empty until every task runs."""
    vertices = rest(address, f"/jobs/{job_id}")["vertices"]
    if any(v["status"] != "RUNNING" for v in vertices):
        return []
    tasks = []
    for v in vertices:
        path = f"/jobs/{job_id}/vertices/{v['id']}/subtasks/metrics"
        wanted = [m["id"] for m in rest(address, path) if "." in m["id"] and m["id"].rsplit(".", 1)[1] in COUNTERS]
        ops = {}
        for m in rest(address, f"{path}?get={urllib.parse.quote(','.join(wanted))}") if wanted else []:
            op, name = m["id"].rsplit(".", 1)
            ops.setdefault(op.split("[")[0], {})[name] = int(m["sum"])
        tasks.append(ops)
    return tasks


def report(tasks):
    """The native engine's metrics, from Flink's. Malformed records are those the source read that its chained
    filter did not pass: counted in one task, so that no record is in flight between the two counters."""
    def total(op, name):
        return sum(ops.get(op, {}).get(name, 0) for ops in tasks)

    read = tasks[0]["Source__events"]["numRecordsIn"]
    for name, value in [
        ("consumed", read),
        ("malformed", read - tasks[0]["Calc"]["numRecordsOut"]),
        ("duplicates_dropped", total("Deduplicate", "numRecordsIn") - total("Deduplicate", "numRecordsOut")),
        ("late_dropped", total("GlobalWindowAggregate", "numLateRecordsDropped") + total("WindowAggregate", "numLateRecordsDropped")),
        ("results_emitted", total("results", "numRecordsSend")),
    ]:
        print(f"boontadata: metric {name} {value}", flush=True)


def main():
    p = job_parser(ENGINE, __doc__, modes=("event-time", "processing-time"))
    p.add_argument("--cluster", help="'local' (a standalone cluster for this job) or HOST:PORT of an existing cluster's REST API")
    p.add_argument("--checkpoint-ms", type=int, default=10_000)
    # One by default: two cores, shared with the broker and the other engines.
    p.add_argument("--parallelism", type=int, default=1, help="parallel instances of each operator (the harness's --instances)")

    work = Path(tempfile.mkdtemp(prefix="boontadata-flink-"))
    os.environ["FLINK_LOG_DIR"] = str(work)  # else PyFlink's JVM logs into the virtualenv
    cluster = None
    jobs = Jobs(p)
    try:
        for a in jobs:
            if a.cluster == "local" and cluster is None:
                cluster = LocalCluster(work, a.parallelism)
            failed = run(a, cluster.rest if cluster else a.cluster, work, jobs)
            if failed:
                sys.exit(failed)
    finally:
        if cluster:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def last_checkpoint(checkpoints):
    """The latest completed checkpoint (one with its _metadata) a killed job left in `checkpoints`, if any."""
    done = sorted(checkpoints.glob("*/chk-*/_metadata"), key=lambda m: m.stat().st_mtime)
    return done[-1].parent if done else None


def submit(a, settings):
    """Runs job.sql's statements with `settings`; returns the job's client."""
    conf = Configuration()
    for k, v in settings.items():
        conf.set_string(k, str(v))
    t_env = TableEnvironment.create(EnvironmentSettings.new_instance().in_streaming_mode().with_configuration(conf).build())
    *ddl, insert = statements(a)
    for statement in ddl:
        t_env.execute_sql(statement)
    return t_env.execute_sql(insert).get_job_client()


def run(a, cluster_rest, work, jobs):
    """Submits the job (to the cluster at REST address `cluster_rest`, or to an embedded mini-cluster of its own)
    and follows it until it is to end."""
    settings = {
        "pipeline.name": f"boontadata {a.mode}",
        "pipeline.jars": ";".join(f"file://{jar}" for jar in sorted((CACHE / "jars").glob("*.jar"))),
        "parallelism.default": str(a.parallelism),
        "table.local-time-zone": "UTC",
        "table.exec.state.ttl": f"{a.dedup_horizon_ms} ms",
        "execution.checkpointing.interval": f"{a.checkpoint_ms} ms",
    }
    if cluster_rest:
        address = cluster_rest
        try:
            rest(address, "/config")
        except OSError as e:  # said in one line, before PyFlink retries for a minute and prints a Java stack
            sys.exit(f"{ENGINE}: no Flink cluster answers at {address} ({e}); check --flink-cluster")
        settings |= {"execution.target": "remote", "rest.address": address.rsplit(":", 1)[0], "rest.port": address.rsplit(":", 1)[1]}
    if a.cluster in (None, "local"):  # a cluster of our own: its checkpoints stay on this machine
        checkpoints = Path(a.state_dir or work).resolve() / "checkpoints"
        settings["execution.checkpointing.dir"] = f"file://{checkpoints}"
        restored = last_checkpoint(checkpoints)
        if restored:
            settings["execution.state-recovery.path"] = f"file://{restored}"
            print(f"{ENGINE}: restoring the job from its checkpoint {restored}", file=sys.stderr)
    for attempt in range(3):
        if not cluster_rest:  # an embedded mini-cluster, its REST endpoint on a port free a moment ago
            address = f"127.0.0.1:{free_ports(1)[0]}"
            settings |= {**LOOPBACK_ONLY, "rest.port": address.rsplit(":", 1)[1]}
        try:
            job = submit(a, settings)
            break
        except Exception as e:  # another process may have taken the port since: try another
            if cluster_rest or "Could not start rest endpoint" not in str(e) or attempt == 2:
                raise
            print(f"{ENGINE}: the mini-cluster's REST port was taken ({address}); trying another", file=sys.stderr)
    job_id = str(job.get_job_id())
    say_version(ENGINE, f"flink {rest(address, '/config')['flink-version']}")

    ready = False
    while jobs.running():
        status = job.get_job_status().result()
        if status.is_globally_terminal_state():
            cause = rest(address, f"/jobs/{job_id}/exceptions").get("root-exception") or ""
            print(f"{ENGINE}: job {job_id} is {status.name}\n{cause}", file=sys.stderr)
            return 1
        try:
            tasks = counters(address, job_id)
        except OSError as e:  # a busy jobmanager: ask again next time
            print(f"{ENGINE}: reading the job's metrics: {e}", file=sys.stderr)
            tasks = []
        if tasks and tasks[0].get("Source__events", {}).get("fetch-total", 0) > 0:
            if not ready:
                ready = True
                print("boontadata: ready", flush=True)
            report(tasks)
        time.sleep(1 if ready else 0.2)
    if ready:
        report(counters(address, job_id))
    job.cancel().result()
    return 0


if __name__ == "__main__":
    main()
