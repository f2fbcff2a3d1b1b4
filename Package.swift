// swift-tools-version: 6.0
import PackageDescription

// Kernels are hot loops over raw pointers: they are built optimised even in debug builds
// (a -Onone SIMD loop is ~900x slower) and for AVX2 + FMA (see README: needs an AVX2 CPU).
let kernelSettings: [SwiftSetting] = [
    .unsafeFlags(["-Ounchecked", "-Xcc", "-mavx2", "-Xcc", "-mfma"])
]

let package = Package(
    name: "Emotion3D",
    platforms: [.macOS(.v14)],
    products: [
        .library(
            name: "Emotion3D",
            targets: [
                "GraphCore", "Operators", "Compiler", "Layers", "HDF5", "Training", "Vision", "EmotionRecognition", "HyperSearch",
            ]),
        .executable(name: "emotion3d", targets: ["emotion3d"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
    ],
    targets: [
        // C libraries at the edges.
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5-serial", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libavutil-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CPostgres", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        // The one C kernel: the FMA peak loop at the CPU's widest vectors (per-function targets).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O2"])]),

        .target(
            name: "GraphCore",
            dependencies: [.product(name: "RealModule", package: "swift-numerics")], exclude: ["README.md"]),
        .target(
            name: "Operators",
            dependencies: ["GraphCore", "CBLAS", "CKernels", .product(name: "RealModule", package: "swift-numerics")], exclude: ["README.md"],
            swiftSettings: kernelSettings),
        .target(name: "Compiler", dependencies: ["GraphCore", "Operators"], exclude: ["README.md"], swiftSettings: kernelSettings),
        .target(name: "Layers", dependencies: ["GraphCore", "Operators"], exclude: ["README.md"]),
        .target(name: "HDF5", dependencies: ["CHDF5"], exclude: ["README.md"]),
        .target(name: "Vision", dependencies: ["CFFmpeg"], exclude: ["README.md"], swiftSettings: kernelSettings),
        .target(name: "Training", dependencies: ["Layers", "Compiler", "HDF5"], exclude: ["README.md"]),
        .target(
            name: "EmotionRecognition",
            dependencies: ["Layers", "Operators", "GraphCore", "Training", "Vision", "HDF5", "CZlib", "HyperSearch"], exclude: ["README.md"]),
        // Hyper-parameter search: pure Swift + the two database clients, nothing else of the project.
        // Optimised even in debug builds: the TPE sampler's density loops are hot in the tests.
        .target(
            name: "HyperSearch", dependencies: ["CSQLite", "CPostgres"], exclude: ["README.md"],
            swiftSettings: [.unsafeFlags(["-Ounchecked"])]),
        .executableTarget(
            name: "emotion3d",
            dependencies: [
                "GraphCore", "Operators", "Compiler", "Layers", "HDF5", "Training", "EmotionRecognition", "Vision", "HyperSearch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // Shared test helpers (fixture paths, finite differences), not a product.
        .target(
            name: "TestSupport", dependencies: ["GraphCore", "Operators", "HDF5"],
            path: "Tests/TestSupport"),
        .testTarget(name: "OperatorsTests", dependencies: ["GraphCore", "Operators", "TestSupport"]),
        .testTarget(
            name: "LayersTests",
            dependencies: ["GraphCore", "Operators", "Layers", "EmotionRecognition", "HDF5", "TestSupport"]),
        .testTarget(
            name: "CompilerTests", dependencies: ["Compiler", "GraphCore", "Operators", "Layers", "EmotionRecognition", "Training"]),
        .testTarget(name: "HDF5Tests", dependencies: ["HDF5", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "Layers", "HDF5", "TestSupport"]),
        .testTarget(name: "VisionTests", dependencies: ["Vision"]),
        .testTarget(name: "HyperSearchTests", dependencies: ["HyperSearch"]),
        // Runs the built `emotion3d` executable as a user would.
        .testTarget(name: "CLITests", dependencies: ["TestSupport", "HDF5"]),
        .testTarget(
            name: "EmotionRecognitionTests",
            dependencies: ["EmotionRecognition", "Training", "Vision", "HDF5", "TestSupport"]),
    ]
)
