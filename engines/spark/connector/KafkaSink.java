package boontadata.spark;

import java.io.IOException;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.connector.write.DataWriter;
import org.apache.spark.sql.connector.write.PhysicalWriteInfo;
import org.apache.spark.sql.connector.write.WriterCommitMessage;
import org.apache.spark.sql.connector.write.streaming.StreamingDataWriterFactory;
import org.apache.spark.sql.connector.write.streaming.StreamingWrite;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The sink: each row's {@code value} (and {@code key}, if there is one), as
 * string or bytes, becomes one record. A task's rows are all acknowledged by
 * the broker before the task commits: at least once.
 */
final class KafkaSink implements StreamingWrite, StreamingDataWriterFactory {
    /** One producer per executor and cluster, shared by its tasks: producers are thread-safe and costly to start. */
    private static final ConcurrentHashMap<String, KafkaProducer<byte[], byte[]>> PRODUCERS = new ConcurrentHashMap<>();
    private static final WriterCommitMessage WRITTEN = new WriterCommitMessage() {};

    private final String brokers, topic;
    private final int key, value;
    private final boolean keyIsString, valueIsString;

    KafkaSink(String brokers, String topic, StructType schema) {
        this.brokers = brokers;
        this.topic = topic;
        this.key = column(schema, "key", false);
        this.value = column(schema, "value", true);
        this.keyIsString = key >= 0 && schema.fields()[key].dataType().equals(DataTypes.StringType);
        this.valueIsString = schema.fields()[value].dataType().equals(DataTypes.StringType);
    }

    private static int column(StructType schema, String name, boolean required) {
        String[] names = schema.fieldNames();
        for (int i = 0; i < names.length; i++) {
            DataType type = schema.fields()[i].dataType();
            if (names[i].equals(name)) {
                if (!type.equals(DataTypes.StringType) && !type.equals(DataTypes.BinaryType)) {
                    throw new IllegalArgumentException("boontadata-kafka: column '" + name + "' must be a string or binary, not " + type.simpleString());
                }
                return i;
            }
        }
        if (required) {
            throw new IllegalArgumentException("boontadata-kafka writes a '" + name + "' column; the query has " + String.join(", ", names));
        }
        return -1;
    }

    private static KafkaProducer<byte[], byte[]> producer(String brokers) {
        return PRODUCERS.computeIfAbsent(brokers, b -> {
            Properties p = new Properties();
            p.put("bootstrap.servers", b);
            p.put("key.serializer", ByteArraySerializer.class.getName());
            p.put("value.serializer", ByteArraySerializer.class.getName());
            p.put("acks", "all");
            // Plain at-least-once works on any Kafka-protocol broker; a retried row is a re-emission, which results allow.
            p.put("enable.idempotence", "false");
            return new KafkaProducer<>(p);
        });
    }

    @Override public StreamingDataWriterFactory createStreamingWriterFactory(PhysicalWriteInfo info) { return this; }
    @Override public void commit(long epoch, WriterCommitMessage[] messages) {}
    @Override public void abort(long epoch, WriterCommitMessage[] messages) {}

    @Override
    public DataWriter<InternalRow> createWriter(int partition, long task, long epoch) {
        KafkaProducer<byte[], byte[]> producer = producer(brokers);
        AtomicReference<Exception> failed = new AtomicReference<>();
        return new DataWriter<>() {
            @Override
            public void write(InternalRow row) {
                byte[] k = key < 0 || row.isNullAt(key) ? null : keyIsString ? row.getUTF8String(key).getBytes() : row.getBinary(key);
                byte[] v = valueIsString ? row.getUTF8String(value).getBytes() : row.getBinary(value);
                producer.send(new ProducerRecord<>(topic, k, v), (meta, error) -> {
                    if (error != null) {
                        failed.compareAndSet(null, error);
                    }
                });
            }

            @Override
            public WriterCommitMessage commit() throws IOException {
                producer.flush();
                if (failed.get() != null) {
                    throw new IOException("boontadata-kafka: writing to " + topic + " failed", failed.get());
                }
                return WRITTEN;
            }

            @Override public void abort() {}
            @Override public void close() {}
        };
    }
}
