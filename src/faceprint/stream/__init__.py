"""Recognition in video files and live streams: `watch(source, gallery=...)` yields Events."""
from .events import Event
from .mqtt_formats import MQTTConfig, MQTTFormat
from .pipeline import Watcher, watch
from .sinks import AnnotatedVideo, JSONLSink, MQTTSink, WebhookSink, make_sinks
from .sources import SourceError, open_source

__all__ = ["watch", "Watcher", "Event", "SourceError", "open_source", "JSONLSink", "WebhookSink", "MQTTSink",
           "MQTTConfig", "MQTTFormat", "AnnotatedVideo", "make_sinks"]
