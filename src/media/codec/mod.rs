//! Audio codecs for phone legs and the DTMF event payload.
