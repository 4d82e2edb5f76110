import EmailOTPCrypto
import EmailOTPSystem
import Glibc

/// Delivers into a Maildir (`tmp/` then rename into `new/`): for tests, demos and hosts whose
/// users read mail locally.
package struct MaildirMailer: Mailer {
    let directory: String
    /// `clock` and `random` make the unique file name (Maildir's `time.pid_random.host`).
    let clock: Clock
    let random: RandomSource

    package func send(_ mail: OutgoingMail) throws {
        do {
            for sub in ["", "/tmp", "/new", "/cur"] {
                try SafeFile.makeDirectory(directory + sub)
            }
            let unique = "\(clock.now()).\(ThisProcess.id)_\(Hex.encode(try random.bytes(8))).\(Host.name().replacingSlashesAndColons())"
            let temporary = "\(directory)/tmp/\(unique)"
            let fd = try FileDescriptor.open(temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
            try fd.writeAll(Array(mail.text.utf8))
            try fd.sync()
            try SafeFile.rename(temporary, to: "\(directory)/new/\(unique)")
            try SafeFile.syncDirectory("\(directory)/new")
        } catch let error as MailError {
            throw error
        } catch {
            throw MailError("maildir \(directory): \(error)")
        }
    }
}

extension String {
    /// `/` and `:` as `_`: a host name part of a Maildir file name may hold neither (`:`
    /// starts the flags of a delivered message).
    func replacingSlashesAndColons() -> String {
        String(decoding: utf8.map { $0 == 0x2F || $0 == 0x3A ? 0x5F : $0 }, as: UTF8.self)
    }
}
