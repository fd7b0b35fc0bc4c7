"""The Cloud's control plane: the API server, the CLI and, later, the resource services.

It configures the native data plane through `thecloud.dataplane` and never sits on a per-request,
per-packet or per-block path itself.
"""
