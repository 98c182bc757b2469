/// A todo as the API sends it.
struct Todo: Codable, Equatable, Sendable {
    var id: Int
    var title: String
    var done: Bool
}

/// What a client sends to create or replace a todo (PUT: every field),
/// or to change one (PATCH: any field).
struct TodoInput: Codable, Sendable {
    var title: String?
    var done: Bool?
}
