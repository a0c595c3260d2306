"""Recognition in video files and live streams: `watch(source, gallery=...)` yields Events."""
from .pipeline import Watcher, watch
from .sinks import AnnotatedVideo, Event, JSONLSink, MQTTSink, WebhookSink, make_sinks
from .sources import SourceError, open_source

__all__ = ["watch", "Watcher", "Event", "SourceError", "open_source", "JSONLSink", "WebhookSink", "MQTTSink",
           "AnnotatedVideo", "make_sinks"]
