"""Alerts: the messages Uptrack sends and the channels that carry them (DESIGN §6).

- `message.py`: `AlertMessage` / `GroupedMessage` and their human text;
- `channel.py`: the interface of a channel kind (`Channel`, `ChannelSettings`);
- `channels/`: one module per channel kind, each with a settings struct and `send`;
- `registry.py`: `CHANNELS`, `validate_channel`, `redact`, `send_alert`;
- `context.py`: `NotifyContext`, the node-wide HTTP client and per-send deadline;
- `transport.py`: one HTTP request to a vendor and how its outcome is classified;
- `errors.py`: `NotifyError`, the only error a channel raises;
- `records.py`: stored channels, incidents and outbox rows (deliveries);
- `incidents.py`: what a transition opens or resolves, and which channels it alerts;
- `windows.py`: maintenance windows and what they do to a monitor's state;
- `labels.py`, `validation.py`: tags, channel and maintenance definitions from users;
- `dispatch.py`: one delivery attempt, failures caught at this boundary;
- `grouping.py`: many monitors changing at once on one channel become one message;
- `outbox.py`: the deliverer every node runs (claims, sends, retries, gives up).
"""
