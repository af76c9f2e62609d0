package boontadata;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * The engine side of the harness protocol (src/engine/protocol.rs), for engines on the JVM,
 * as engines/protocol.py is for Python ones. Every JVM engine compiles this folder with its own
 * sources (engines/jvm/pom.xml, its parent pom). It needs nothing but the JDK: tests/layout.rs
 * compiles it alone.
 *
 * <pre>
 * Protocol.serve("storm", args, Map.of("nimbus", ""), (job, running) -&gt; {   // job.engine: its name
 *     ...start the job, Protocol.ready() once it reads...
 *     while (running.getAsBoolean()) { ...Protocol.metric(...)... }
 *     ...stop the job, report its last metrics...
 * });
 * </pre>
 *
 * The command line's job runs first; then, after {@code boontadata: ended}, the job of each
 * line on stdin (a JSON array of flags). The line {@code end} ends the current job; SIGTERM
 * ends the current job and the process; stdin closing between jobs ends the process.
 */
public final class Protocol {
    private Protocol() {}

    /** The flags every job takes (docs/SPEC.md §5, "The job"), with the one default each has. */
    public static final class Job {
        /** The engine's name, its folder's: what its result rows say (see {@link Protocol#name}). */
        public String engine;
        public String mode = "event-time";
        public String brokers = "127.0.0.1:9092";
        public String events = "events";
        public String results = "results";
        public String group;
        public long windowMs = 5000;
        public long outOfOrdernessMs = 1000;
        public long allowedLatenessMs = 0;
        public long dedupHorizonMs = 600_000;
        public long idleTimeoutMs = 5000;
        /** A folder of the job's own for checkpoints and state; null: the engine's choice. */
        public String stateDir;
        /** Each result row also names the events its window counted, in {@code ids}. */
        public boolean ids = false;
        /** The engine's own flags, by name without dashes, with their defaults. */
        public final Map<String, String> own = new LinkedHashMap<>();

        /** Parses {@code --flag value} pairs; fails on a flag neither the contract nor the engine has. */
        public static Job parse(String engine, List<String> args, Map<String, String> ownDefaults) {
            Job job = new Job();
            job.engine = engine;
            job.own.putAll(ownDefaults);
            for (int i = 0; i < args.size(); i += 2) {
                String flag = args.get(i);
                if (!flag.startsWith("--") || i + 1 >= args.size()) {
                    throw new IllegalArgumentException(engine + ": expected --FLAG VALUE, got " + String.join(" ", args.subList(i, args.size())));
                }
                String name = flag.substring(2);
                String value = args.get(i + 1);
                switch (name) {
                    case "mode" -> job.mode = value;
                    case "brokers" -> job.brokers = value;
                    case "events" -> job.events = value;
                    case "results" -> job.results = value;
                    case "group" -> job.group = value;
                    case "window-ms" -> job.windowMs = Long.parseLong(value);
                    case "out-of-orderness-ms" -> job.outOfOrdernessMs = Long.parseLong(value);
                    case "allowed-lateness-ms" -> job.allowedLatenessMs = Long.parseLong(value);
                    case "dedup-horizon-ms" -> job.dedupHorizonMs = Long.parseLong(value);
                    case "idle-timeout-ms" -> job.idleTimeoutMs = Long.parseLong(value);
                    case "state-dir" -> job.stateDir = value;
                    case "ids" -> {
                        if (!value.equals("true") && !value.equals("false")) {
                            throw new IllegalArgumentException(engine + ": --ids takes true or false, not " + value);
                        }
                        job.ids = value.equals("true");
                    }
                    default -> {
                        if (!job.own.containsKey(name)) {
                            throw new IllegalArgumentException(engine + ": no flag --" + name + "; its flags are those of docs/SPEC.md §5 and " + job.own.keySet());
                        }
                        job.own.put(name, value);
                    }
                }
            }
            if (!List.of("event-time", "processing-time", "ingestion-time").contains(job.mode)) {
                throw new IllegalArgumentException(engine + ": no mode '" + job.mode + "'");
            }
            if (job.group == null) {
                job.group = "boontadata-" + engine + "-" + job.mode;
            }
            return job;
        }

        /** The contract's flags as JSON, their names spelled as src/engine/protocol.rs's JobFlags spells them. */
        public String toJson() {
            return "{\"mode\":" + quote(mode) + ",\"brokers\":" + quote(brokers) + ",\"events\":" + quote(events)
                + ",\"results\":" + quote(results) + ",\"group\":" + quote(group) + ",\"window_ms\":" + windowMs
                + ",\"out_of_orderness_ms\":" + outOfOrdernessMs + ",\"allowed_lateness_ms\":" + allowedLatenessMs
                + ",\"dedup_horizon_ms\":" + dedupHorizonMs + ",\"idle_timeout_ms\":" + idleTimeoutMs
                + ",\"state_dir\":" + (stateDir == null ? "null" : quote(stateDir)) + ",\"ids\":" + ids + "}";
        }
    }

    /** One job: runs until {@code running} turns false. */
    @FunctionalInterface
    public interface Runner {
        void run(Job job, BooleanSupplier running) throws Exception;
    }

    /** The engine's name: $BOONTADATA_ENGINE as the harness gives it (a copied folder's), else {@code original}. */
    public static String name(String original) {
        String given = System.getenv("BOONTADATA_ENGINE");
        return given == null || given.isBlank() ? original : given;
    }

    /** The name of the engine this process serves jobs of. */
    private static volatile String serving = "";

    /** What the job runs on ({@code kafka-streams 4.1.2}), after the engine's name when it is not the same ({@code mine on …}). */
    public static void version(String text) {
        say("version " + (text.split(" ")[0].equals(serving) ? text : serving + " on " + text));
    }

    public static void ready() {
        say("ready");
    }

    public static void metric(String name, double value) {
        say("metric " + name + " " + (value == Math.rint(value) ? Long.toString((long) value) : Double.toString(value)));
    }

    private static synchronized void say(String line) {
        System.out.println("boontadata: " + line);
        System.out.flush();
    }

    /** Serves the command line's job, then each job line on stdin, as the class comment says; the engine is
     * named {@code original} unless the harness gives another name ({@link #name}). */
    public static void serve(String original, String[] args, Map<String, String> ownDefaults, Runner runner) throws Exception {
        String engine = name(original);
        serving = engine;
        AtomicBoolean terminated = new AtomicBoolean(false);
        AtomicBoolean end = new AtomicBoolean(false);
        BlockingQueue<List<String>> lines = new LinkedBlockingQueue<>();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> terminated.set(true)));
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8))) {
                for (String line = in.readLine(); line != null; line = in.readLine()) {
                    if (line.trim().equals("end")) {
                        end.set(true);
                    } else if (!line.isBlank()) {
                        lines.add(parseArray(line));
                    }
                }
            } catch (Exception e) {
                System.err.println(engine + ": reading stdin: " + e);
            }
            lines.add(List.of());
        }, "boontadata-stdin");
        reader.setDaemon(true);
        reader.start();
        List<String> next = List.of(args);
        while (true) {
            Job job = Job.parse(engine, next, ownDefaults);
            end.set(false);
            runner.run(job, () -> !end.get() && !terminated.get());
            if (terminated.get()) {
                return;
            }
            say("ended");
            List<String> line = null;
            while (line == null && !terminated.get()) {
                line = lines.poll(100, TimeUnit.MILLISECONDS);
            }
            if (line == null || line.isEmpty()) {
                return;
            }
            next = line;
        }
    }

    /** A JSON array of strings, as the harness writes job lines. */
    static List<String> parseArray(String json) {
        List<String> out = new ArrayList<>();
        String s = json.trim();
        if (!s.startsWith("[") || !s.endsWith("]")) {
            throw new IllegalArgumentException("a job line is a JSON array of flags, not " + json);
        }
        int i = 1;
        while (i < s.length() - 1) {
            char c = s.charAt(i);
            if (c == '"') {
                StringBuilder b = new StringBuilder();
                for (i++; s.charAt(i) != '"'; i++) {
                    char d = s.charAt(i);
                    if (d == '\\') {
                        char e = s.charAt(++i);
                        switch (e) {
                            case 'n' -> b.append('\n');
                            case 't' -> b.append('\t');
                            case 'u' -> {
                                b.append((char) Integer.parseInt(s.substring(i + 1, i + 5), 16));
                                i += 4;
                            }
                            default -> b.append(e);
                        }
                    } else {
                        b.append(d);
                    }
                }
                out.add(b.toString());
            }
            i++;
        }
        return out;
    }

    static String quote(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }

    /** Prints the defaults of the job flags as JSON: tests/layout.rs holds them to src/engine/protocol.rs's. */
    public static void main(String[] args) {
        System.out.println(Job.parse("x", List.of(args), Map.of()).toJson());
    }
}
