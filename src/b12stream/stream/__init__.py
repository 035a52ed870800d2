"""The only layer that touches Kafka."""
