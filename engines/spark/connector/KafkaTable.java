package boontadata.spark;

import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import org.apache.spark.sql.connector.catalog.SupportsRead;
import org.apache.spark.sql.connector.catalog.SupportsWrite;
import org.apache.spark.sql.connector.catalog.Table;
import org.apache.spark.sql.connector.catalog.TableCapability;
import org.apache.spark.sql.connector.catalog.TableProvider;
import org.apache.spark.sql.connector.expressions.Transform;
import org.apache.spark.sql.connector.read.Scan;
import org.apache.spark.sql.connector.read.ScanBuilder;
import org.apache.spark.sql.connector.read.streaming.MicroBatchStream;
import org.apache.spark.sql.connector.write.LogicalWriteInfo;
import org.apache.spark.sql.connector.write.Write;
import org.apache.spark.sql.connector.write.WriteBuilder;
import org.apache.spark.sql.connector.write.streaming.StreamingWrite;
import org.apache.spark.sql.internal.connector.SupportsStreamingUpdateAsAppend;
import org.apache.spark.sql.sources.DataSourceRegister;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.sql.util.CaseInsensitiveStringMap;

/**
 * boontadata's Kafka source and sink for Spark Structured Streaming, as
 * {@code format("boontadata-kafka")} with options {@code brokers} and
 * {@code topic} (and {@code group}, where the source commits what it has
 * processed). Spark's own connector is not in any package registry this
 * project can use; this one is small and does what the bench needs:
 * micro-batch reads of every partition of one topic from the earliest
 * offset, and at-least-once writes of {@code key}/{@code value} columns.
 */
public final class KafkaTable implements TableProvider, DataSourceRegister, SupportsRead, SupportsWrite {
    /** Rows read: the record's key and value as bytes, where it was, and its timestamp. */
    public static final StructType SCHEMA = new StructType()
        .add("key", DataTypes.BinaryType)
        .add("value", DataTypes.BinaryType)
        .add("partition", DataTypes.IntegerType, false)
        .add("offset", DataTypes.LongType, false)
        .add("timestamp", DataTypes.TimestampType, false);

    private Map<String, String> options = Map.of();

    @Override public String shortName() { return "boontadata-kafka"; }
    @Override public StructType inferSchema(CaseInsensitiveStringMap options) { return SCHEMA; }

    @Override
    public Table getTable(StructType schema, Transform[] partitioning, Map<String, String> options) {
        KafkaTable table = new KafkaTable();
        table.options = options;
        return table;
    }

    @Override public String name() { return "boontadata-kafka " + options.get("topic"); }
    @Override @SuppressWarnings("deprecation") public StructType schema() { return SCHEMA; }

    @Override
    public Set<TableCapability> capabilities() {
        return EnumSet.of(TableCapability.MICRO_BATCH_READ, TableCapability.STREAMING_WRITE);
    }

    static String required(CaseInsensitiveStringMap options, String name) {
        String value = options.get(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalArgumentException("format(\"boontadata-kafka\") needs option(\"" + name + "\", …)");
        }
        return value;
    }

    @Override
    public ScanBuilder newScanBuilder(CaseInsensitiveStringMap options) {
        String brokers = required(options, "brokers"), topic = required(options, "topic");
        String group = options.getOrDefault("group", "");
        return () -> new Scan() {
            @Override public StructType readSchema() { return SCHEMA; }
            @Override public MicroBatchStream toMicroBatchStream(String checkpoint) { return new KafkaMicroBatchStream(brokers, topic, group); }
        };
    }

    @Override
    public WriteBuilder newWriteBuilder(LogicalWriteInfo info) {
        KafkaSink sink = new KafkaSink(required(info.options(), "brokers"), required(info.options(), "topic"), info.schema());
        // Update mode only re-emits changed rows, which a topic takes like appends.
        return new SupportsStreamingUpdateAsAppend() {
            @Override public Write build() {
                return new Write() {
                    @Override public StreamingWrite toStreaming() { return sink; }
                };
            }
        };
    }
}
