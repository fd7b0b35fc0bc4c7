"""Shared foundations of The Cloud: errors, settings, ids, logging and the embedded state store.

Nothing in here knows about HTTP, virtual machines or the native data plane; both the control plane
and the data plane facades build on these modules.
"""
