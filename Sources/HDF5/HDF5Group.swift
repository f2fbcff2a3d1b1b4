import CHDF5

/// Element types of datasets this module reads and writes.
public protocol HDF5Scalar {
    static var nativeType: hid_t { get }
    static var typeName: String { get }
    init()
}
extension Float: HDF5Scalar {
    public static var nativeType: hid_t { e3d_h5t_native_float() }
    public static var typeName: String { "float32" }
}
extension Double: HDF5Scalar {
    public static var nativeType: hid_t { e3d_h5t_native_double() }
    public static var typeName: String { "float64" }
}
extension Int64: HDF5Scalar {
    public static var nativeType: hid_t { e3d_h5t_native_int64() }
    public static var typeName: String { "int64" }
}
extension Int32: HDF5Scalar {
    public static var nativeType: hid_t { e3d_h5t_native_int32() }
    public static var typeName: String { "int32" }
}
extension UInt8: HDF5Scalar {
    public static var nativeType: hid_t { e3d_h5t_native_uint8() }
    public static var typeName: String { "uint8" }
}

/// A dataset read into memory: its shape (outermost first) and row-major values.
public struct HDF5Array<Element> {
    public var shape: [Int]
    public var values: [Element]
}

/// A group of an open file: datasets, subgroups and attributes by name or `a/b/c` path.
public final class HDF5Group {
    public let file: HDF5File
    public let path: String
    let id: hid_t

    init(file: HDF5File, id: hid_t, path: String) {
        self.file = file
        self.id = id
        self.path = path
    }

    deinit { if id >= 0 { H5Gclose(id) } }

    private func fullPath(_ name: String) -> String { path == "/" ? "/" + name : path + "/" + name }

    /// Whether a link `name` exists (intermediate groups are checked one by one).
    public func contains(_ name: String) -> Bool {
        var prefix = ""
        for component in name.split(separator: "/") {
            prefix += prefix.isEmpty ? String(component) : "/" + component
            guard H5Lexists(id, prefix, e3d_h5p_default()) > 0 else { return false }
        }
        return !prefix.isEmpty
    }

    /// The subgroup `name`.
    public func group(_ name: String) throws -> HDF5Group {
        guard contains(name) else { throw HDF5Error.missing(file: file.path, object: fullPath(name)) }
        let groupID = H5Gopen2(id, name, e3d_h5p_default())
        guard groupID >= 0 else {
            throw HDF5Error.wrongType(file: file.path, object: fullPath(name), expected: "a group", found: "not a group")
        }
        return HDF5Group(file: file, id: groupID, path: fullPath(name))
    }

    /// Creates the subgroup `name` (and missing intermediate groups), or opens it if it exists.
    @discardableResult
    public func createGroup(_ name: String) throws -> HDF5Group {
        if contains(name) { return try group(name) }
        let links = H5Pcreate(e3d_h5p_link_create())
        defer { H5Pclose(links) }
        H5Pset_create_intermediate_group(links, 1)
        let groupID = H5Gcreate2(id, name, links, e3d_h5p_default(), e3d_h5p_default())
        guard groupID >= 0 else { throw HDF5Error.failed(file: file.path, operation: "create group \(fullPath(name))") }
        return HDF5Group(file: file, id: groupID, path: fullPath(name))
    }

    /// Names of the direct members (datasets and groups), in HDF5's name order.
    public func memberNames() -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(id, &info) >= 0 else { return [] }
        return (0..<info.nlinks).compactMap { index -> String? in
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, e3d_h5p_default())
            guard length >= 0 else { return nil }
            var buffer = [CChar](repeating: 0, count: Int(length) + 1)
            H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, Int(length) + 1, e3d_h5p_default())
            return String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }

    /// Whether `name` is a group (false for datasets and missing names).
    public func isGroup(_ name: String) -> Bool {
        guard contains(name) else { return false }
        let object = H5Oopen(id, name, e3d_h5p_default())
        guard object >= 0 else { return false }
        defer { H5Oclose(object) }
        return H5Iget_type(object) == H5I_GROUP
    }

    /// Writes the dataset `name` (replacing nothing: the name must be new). Intermediate groups are created.
    public func write<T: HDF5Scalar>(_ name: String, _ values: [T], shape: [Int]) throws {
        precondition(shape.reduce(1, *) == values.count, "HDF5 write of \(values.count) values as \(shape)")
        let dims = shape.map { hsize_t($0) }
        let space = dims.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
        defer { H5Sclose(space) }
        let links = H5Pcreate(e3d_h5p_link_create())
        defer { H5Pclose(links) }
        H5Pset_create_intermediate_group(links, 1)
        let dataset = H5Dcreate2(id, name, T.nativeType, space, links, e3d_h5p_default(), e3d_h5p_default())
        guard dataset >= 0 else { throw HDF5Error.failed(file: file.path, operation: "create dataset \(fullPath(name))") }
        defer { H5Dclose(dataset) }
        let status = values.withUnsafeBufferPointer { H5Dwrite(dataset, T.nativeType, e3d_h5s_all(), e3d_h5s_all(), e3d_h5p_default(), $0.baseAddress) }
        guard status >= 0 else { throw HDF5Error.failed(file: file.path, operation: "write dataset \(fullPath(name))") }
    }

    /// Reads the dataset `name`, converting its numbers to `T` (HDF5 converts float64 → float32 etc.).
    /// Non-numeric datasets are an error naming the object.
    public func read<T: HDF5Scalar>(_ name: String, as _: T.Type = T.self) throws -> HDF5Array<T> {
        guard contains(name) else { throw HDF5Error.missing(file: file.path, object: fullPath(name)) }
        let dataset = H5Dopen2(id, name, e3d_h5p_default())
        guard dataset >= 0 else {
            throw HDF5Error.wrongType(file: file.path, object: fullPath(name), expected: "a dataset", found: "a group")
        }
        defer { H5Dclose(dataset) }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard typeClass == H5T_FLOAT || typeClass == H5T_INTEGER else {
            throw HDF5Error.wrongType(file: file.path, object: fullPath(name), expected: "numbers (\(T.typeName))", found: "a non-numeric dataset")
        }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        if rank > 0 { H5Sget_simple_extent_dims(space, &dims, nil) }
        let shape = rank > 0 ? dims.map { Int($0) } : []
        var values = [T](repeating: T(), count: shape.reduce(1, *))
        let status = values.withUnsafeMutableBufferPointer {
            H5Dread(dataset, T.nativeType, e3d_h5s_all(), e3d_h5s_all(), e3d_h5p_default(), $0.baseAddress)
        }
        guard status >= 0 else { throw HDF5Error.failed(file: file.path, operation: "read dataset \(fullPath(name)) (truncated file?)") }
        return HDF5Array(shape: shape, values: values)
    }

    // MARK: attributes

    /// Sets a string attribute, stored as variable-length UTF-8 (h5py reads it as `str`).
    public func setAttribute(_ name: String, _ value: String) throws {
        let type = H5Tcopy(e3d_h5t_c_s1())
        defer { H5Tclose(type) }
        H5Tset_size(type, e3d_h5t_variable())
        H5Tset_cset(type, H5T_CSET_UTF8)
        let space = H5Screate(H5S_SCALAR)
        defer { H5Sclose(space) }
        if H5Aexists(id, name) > 0 { H5Adelete(id, name) }
        let attribute = H5Acreate2(id, name, type, space, e3d_h5p_default(), e3d_h5p_default())
        guard attribute >= 0 else { throw HDF5Error.failed(file: file.path, operation: "create attribute \(name) on \(path)") }
        defer { H5Aclose(attribute) }
        let status = value.withCString { pointer -> herr_t in
            var cString: UnsafePointer<CChar>? = pointer
            return H5Awrite(attribute, type, &cString)
        }
        guard status >= 0 else { throw HDF5Error.failed(file: file.path, operation: "write attribute \(name) on \(path)") }
    }

    /// Sets a numeric attribute (scalar or 1-D).
    public func setAttribute<T: HDF5Scalar>(_ name: String, _ values: [T]) throws {
        var dims = [hsize_t(values.count)]
        let space = H5Screate_simple(1, &dims, nil)
        defer { H5Sclose(space) }
        if H5Aexists(id, name) > 0 { H5Adelete(id, name) }
        let attribute = H5Acreate2(id, name, T.nativeType, space, e3d_h5p_default(), e3d_h5p_default())
        guard attribute >= 0 else { throw HDF5Error.failed(file: file.path, operation: "create attribute \(name) on \(path)") }
        defer { H5Aclose(attribute) }
        let status = values.withUnsafeBufferPointer { H5Awrite(attribute, T.nativeType, $0.baseAddress) }
        guard status >= 0 else { throw HDF5Error.failed(file: file.path, operation: "write attribute \(name) on \(path)") }
    }

    public func hasAttribute(_ name: String) -> Bool { H5Aexists(id, name) > 0 }

    /// Reads a string attribute, variable- or fixed-length.
    public func stringAttribute(_ name: String) throws -> String {
        guard H5Aexists(id, name) > 0 else { throw HDF5Error.missing(file: file.path, object: "\(path) attribute '\(name)'") }
        let attribute = H5Aopen(id, name, e3d_h5p_default())
        defer { H5Aclose(attribute) }
        let type = H5Aget_type(attribute)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else {
            throw HDF5Error.wrongType(file: file.path, object: "\(path) attribute '\(name)'", expected: "a string", found: "not a string")
        }
        if H5Tis_variable_str(type) > 0 {
            let memoryType = H5Tcopy(e3d_h5t_c_s1())
            defer { H5Tclose(memoryType) }
            H5Tset_size(memoryType, e3d_h5t_variable())
            H5Tset_cset(memoryType, H5Tget_cset(type))
            var pointer: UnsafeMutablePointer<CChar>?
            guard H5Aread(attribute, memoryType, &pointer) >= 0, let pointer else {
                throw HDF5Error.failed(file: file.path, operation: "read attribute \(name) on \(path)")
            }
            defer { H5free_memory(pointer) }
            return String(cString: pointer)
        }
        let size = H5Tget_size(type)
        var buffer = [CChar](repeating: 0, count: size + 1)
        guard H5Aread(attribute, type, &buffer) >= 0 else {
            throw HDF5Error.failed(file: file.path, operation: "read attribute \(name) on \(path)")
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Reads a numeric attribute as `T`.
    public func numericAttribute<T: HDF5Scalar>(_ name: String, as _: T.Type = T.self) throws -> [T] {
        guard H5Aexists(id, name) > 0 else { throw HDF5Error.missing(file: file.path, object: "\(path) attribute '\(name)'") }
        let attribute = H5Aopen(id, name, e3d_h5p_default())
        defer { H5Aclose(attribute) }
        let space = H5Aget_space(attribute)
        defer { H5Sclose(space) }
        let count = Int(H5Sget_simple_extent_npoints(space))
        var values = [T](repeating: T(), count: count)
        guard values.withUnsafeMutableBufferPointer({ H5Aread(attribute, T.nativeType, $0.baseAddress) }) >= 0 else {
            throw HDF5Error.wrongType(file: file.path, object: "\(path) attribute '\(name)'", expected: T.typeName, found: "another type")
        }
        return values
    }
}
