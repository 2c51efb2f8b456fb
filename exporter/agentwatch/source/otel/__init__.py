"""The OpenTelemetry source: agents that export OTLP traces, received over OTLP/HTTP and read into the fleet model."""
