//! The built-in job types. Each is one unit in its own file: its name, its
//! payload (checked at submit by the API) and the code that runs it (called
//! by the worker), listed once in [`BUILTIN`]. The API's validation and the
//! worker's [`Registry`] both read that list, so they agree by construction.
//! A new built-in type is its file and one line in [`BUILTIN`].
//!
//! Tenant-defined types are not listed there: their HTTP targets are run by
//! [`TargetCaller`], with [`SecretBox`] keeping their signing secrets and
//! [`signature`] the `Jobs-Signature` scheme targets verify.

mod catalog;
mod defined;
mod email;
mod http;
mod http_guard;
mod id_token;
mod job_type;
mod noop;
mod registry;
mod secret_box;
mod settings;
pub mod signature;
mod sleep;
mod target;

pub use catalog::JobTypeCatalog;
pub use defined::{
    DefinedHandler, DefinedType, HandlerSpec, JobTypeDefinition, NameError, check_name,
    definition_schema,
};
pub use email::{Email, EmailPayload, mask_address, masked_recipients};
pub use http::{Http, HttpPayload, MAX_REDIRECTS, RESULT_BODY_LIMIT};
pub use id_token::{GoogleIdTokens, IdTokenError, IdTokenSource};
pub use job_type::{HandlerError, JobType, Payload, SetupError, parse_payload};
pub use noop::{Noop, NoopPayload};
pub use registry::{Builtin, BuiltinTypes, Registry, RegistryError, Runner};
pub use secret_box::{SecretBox, SecretBoxError};
pub use settings::{HandlerSettings, SecretsKey, SecretsSettings, SmtpUrl};
pub use sleep::{Sleep, SleepPayload};
pub use target::{TargetAuth, TargetCaller, TargetSpec};

/// Every built-in job type, in the order the API lists them.
pub const BUILTIN: &[Builtin] = &[
    Builtin::of::<Http>(),
    Builtin::of::<Email>(),
    Builtin::of::<Noop>(),
    Builtin::of::<Sleep>(),
];
