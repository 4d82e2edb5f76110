// The core as the module, the helper and the command see it: every layer but the admin code
// (EmailOTPAdmin, which only `emailotp` links).
@_exported import EmailOTPConfig
@_exported import EmailOTPCrypto
@_exported import EmailOTPFlows
@_exported import EmailOTPMail
@_exported import EmailOTPStore
@_exported import EmailOTPSystem
@_exported import EmailOTPToken
@_exported import EmailOTPHelper
