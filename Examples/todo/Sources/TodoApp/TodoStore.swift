/// The todos of one worker, in memory: workers are separate processes, so
/// each has its own list (a real app keeps them in a database).
final class TodoStore {
    private(set) var todos: [Int: Todo] = [:]
    private var nextID = 1

    func create(title: String, done: Bool = false) -> Todo {
        let todo = Todo(id: nextID, title: title, done: done)
        todos[todo.id] = todo
        nextID += 1
        return todo
    }

    func all() -> [Todo] { todos.values.sorted { $0.id < $1.id } }

    subscript(id: Int) -> Todo? {
        get { todos[id] }
        set { todos[id] = newValue }
    }

    func remove(_ id: Int) -> Todo? { todos.removeValue(forKey: id) }
}
