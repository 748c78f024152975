"""Alerts: the messages Uptrack sends and the channels that carry them (DESIGN §6).

- `message.py`: `AlertMessage` / `GroupedMessage` and their human text;
- `channel.py`: the interface of a channel kind (`Channel`, `ChannelSettings`);
- `channels/`: one module per channel kind, each with a settings struct and `send`;
- `registry.py`: `CHANNELS`, `validate_channel`, `redact`, `send_alert`;
- `context.py`: `NotifyContext`, the node-wide HTTP client and per-send deadline;
- `transport.py`: one HTTP request to a vendor and how its outcome is classified;
- `errors.py`: `NotifyError`, the only error a channel raises.
"""
