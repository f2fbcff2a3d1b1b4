// Users of the DSL import Layers only: the graph types and operator attributes come with it.
// Layer names (`Conv3D`, `MaxPool3D`, …) shadow the operators of the same name.
@_exported import GraphCore
@_exported import Operators
