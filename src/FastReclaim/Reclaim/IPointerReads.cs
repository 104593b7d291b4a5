namespace FastReclaim.Reclaim;

/// <summary>
/// How a lock-free walk loads an entry that may lead to a table (a type argument, so each walk is compiled for one):
/// <see cref="TableReadWatch"/> under interval reclamation, <see cref="PlainPointerReads"/> under epoch reclamation.
/// </summary>
internal unsafe interface IPointerReads
{
    /// <summary>Loads <paramref name="entry"/> with acquire semantics; what it leads to may be dereferenced inside the critical section.</summary>
    ulong Read(ulong* entry);
}
