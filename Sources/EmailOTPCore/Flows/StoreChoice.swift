import EmailOTPConfig
import EmailOTPCrypto
import EmailOTPStore
import EmailOTPSystem

extension StoreLocation {
    /// The store that `config` names; a database is connected to on first use. `clock` and
    /// `random` are the file store's (the database store takes its time from the server).
    /// `login`: the store serves one PAM transaction, whose database work together gets
    /// `store_timeout` (docs/fleet.md).
    public static func open(_ config: Config, clock: Clock, random: RandomSource, login: Bool = false) -> TokenStore {
        if config.storeIsDatabase {
            return PostgresStore(uri: config.store, password: config.storePassword, timeout: config.storeTimeout,
                                 perLogin: login)
        }
        return FileStore(directory: config.store, random: random, clock: clock, lockTimeout: config.storeTimeout)
    }
}
