import CHDF5
import Foundation

/// An open HDF5 file; closed when released.
public final class HDF5File {
    public let path: String
    let id: hid_t

    private init(path: String, id: hid_t) {
        self.path = path
        self.id = id
    }

    deinit { H5Fclose(id) }

    /// Creates (or truncates) the file at `path`.
    public static func create(_ path: String) throws -> HDF5File {
        prepare()
        let id = H5Fcreate(path, e3d_h5f_acc_trunc(), e3d_h5p_default(), e3d_h5p_default())
        guard id >= 0 else { throw HDF5Error.cannotOpen(path, "cannot create it (does the folder exist and is it writable?)") }
        return HDF5File(path: path, id: id)
    }

    /// Opens an existing file, read-only unless `writable`.
    public static func open(_ path: String, writable: Bool = false) throws -> HDF5File {
        prepare()
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error.fileNotFound(path) }
        guard H5Fis_hdf5(path) > 0 else { throw HDF5Error.notHDF5(path) }
        let id = H5Fopen(path, writable ? e3d_h5f_acc_rdwr() : e3d_h5f_acc_rdonly(), e3d_h5p_default())
        guard id >= 0 else { throw HDF5Error.notHDF5(path) }
        return HDF5File(path: path, id: id)
    }

    /// The root group `/`.
    public var root: HDF5Group { HDF5Group(file: self, id: H5Gopen2(id, "/", e3d_h5p_default()), path: "/") }

    /// Writes everything to disk (before an atomic rename).
    public func flush() throws {
        guard H5Fflush(id, H5F_SCOPE_GLOBAL) >= 0 else { throw HDF5Error.failed(file: path, operation: "flush") }
    }

    private static func prepare() {
        e3d_h5_silence_errors()
    }
}
