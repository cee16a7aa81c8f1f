"""The MQTT bridge: field payloads in, decoded, checked, normalised, published reliably,
stored and republished to external receivers (see docs/bridge.md)."""

from osed.bridge.config import (
    BatchConfig,
    BridgeConfig,
    PipelineConfig,
    RepublishConfig,
    StepConfig,
    StoreConfig,
    load_config,
    load_config_file,
    parse_config,
)
from osed.bridge.dead_letter import dead_letter_topic, encode_dead_letter
from osed.bridge.ingress import RawIngress, raw_source
from osed.bridge.pipeline import Outcome, Pipeline, PipelineStats
from osed.bridge.republish import (
    BatchingRawFeed,
    RawBatchHandler,
    RawFeed,
    RawHandler,
    RawPublisher,
)
from osed.bridge.samples import Message, Reject, Sample, StepResult
from osed.bridge.service import BridgeService, mqtt_republisher
from osed.bridge.sink import TimeSeriesSink
from osed.bridge.steps import ENTRY_POINT_GROUP, Step, StepFactory, StepRegistry

__all__ = [
    "ENTRY_POINT_GROUP",
    "BatchConfig",
    "BatchingRawFeed",
    "BridgeConfig",
    "BridgeService",
    "Message",
    "Outcome",
    "Pipeline",
    "PipelineConfig",
    "PipelineStats",
    "RawBatchHandler",
    "RawFeed",
    "RawHandler",
    "RawIngress",
    "RawPublisher",
    "Reject",
    "RepublishConfig",
    "Sample",
    "Step",
    "StepConfig",
    "StepFactory",
    "StepRegistry",
    "StepResult",
    "StoreConfig",
    "TimeSeriesSink",
    "dead_letter_topic",
    "encode_dead_letter",
    "load_config",
    "load_config_file",
    "mqtt_republisher",
    "parse_config",
    "raw_source",
]
