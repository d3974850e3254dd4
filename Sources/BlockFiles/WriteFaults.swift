/// Faults a test injects into a file write: the seam through which the tests check that a full
/// disk or a kill in the middle of a checkpoint loses nothing.
///
/// `package` access: the tests of this package reach it, a program built on the libraries does
/// not, and nothing sets it from a user's environment.
package struct WriteFaults: Sendable, Equatable {
    /// Writing fails, as on a full disk, once this many bytes are written.
    package var failAfterBytes: Int?
    /// The writer sleeps this long half-way through a file: a window to kill it mid-write.
    package var pauseMidwayMilliseconds: Int?

    package init(failAfterBytes: Int? = nil, pauseMidwayMilliseconds: Int? = nil) {
        self.failAfterBytes = failAfterBytes
        self.pauseMidwayMilliseconds = pauseMidwayMilliseconds
    }

    /// No fault: what every user's write gets.
    package static let none = WriteFaults()
}
