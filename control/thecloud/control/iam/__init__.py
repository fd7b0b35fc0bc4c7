"""Identity and access management: tenants, accounts, API keys, roles, audit log and secrets.

Everything is kept in the control plane's state store, so it works the same on one machine
(LMDB) and in a cluster (etcd).
"""

from __future__ import annotations

from thecloud.control.iam.api_keys import ApiKey, ApiKeyService, IssuedApiKey
from thecloud.control.iam.audit_chain import AuditEntry, AuditResult
from thecloud.control.iam.audit_log import AuditHead, AuditLog, AuditPage
from thecloud.control.iam.authorizer import Authorizer
from thecloud.control.iam.directory import (
    Directory,
    ProjectRepository,
    ServiceAccountRepository,
    TenantRepository,
    UserRepository,
)
from thecloud.control.iam.errors import (
    AuthenticationError,
    PermissionDeniedError,
    PreconditionFailedError,
    QuotaExceededError,
)
from thecloud.control.iam.records import (
    Principal,
    PrincipalKind,
    Project,
    ServiceAccount,
    Tenant,
    User,
)
from thecloud.control.iam.role_store import RoleBinding, RoleBindingRepository, RoleRepository
from thecloud.control.iam.roles import (
    ADMIN,
    BUILTIN_ROLES,
    MEMBER,
    READER,
    Action,
    Permission,
    Role,
)
from thecloud.control.iam.secrets_store import SecretMetadata, SecretStore, SecretValue
from thecloud.control.iam.server_key import ServerKey, load_or_create_server_key

__all__ = [
    "ADMIN",
    "BUILTIN_ROLES",
    "MEMBER",
    "READER",
    "Action",
    "AuditEntry",
    "AuditHead",
    "AuditLog",
    "AuditPage",
    "AuditResult",
    "Authorizer",
    "Permission",
    "Role",
    "RoleBinding",
    "RoleBindingRepository",
    "RoleRepository",
    "ApiKey",
    "ApiKeyService",
    "AuthenticationError",
    "Directory",
    "IssuedApiKey",
    "PermissionDeniedError",
    "PreconditionFailedError",
    "QuotaExceededError",
    "Principal",
    "PrincipalKind",
    "Project",
    "ProjectRepository",
    "SecretMetadata",
    "SecretStore",
    "SecretValue",
    "ServerKey",
    "ServiceAccount",
    "ServiceAccountRepository",
    "Tenant",
    "TenantRepository",
    "User",
    "UserRepository",
    "load_or_create_server_key",
]
