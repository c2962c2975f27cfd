package dev.tokenkeep

import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.flow
import kotlin.time.Duration.Companion.seconds

/** One native wait of a rotation flow; the loop only wakes to check for close. */
private val WAIT_SLICE = 60.seconds

/**
 * A handle's rotation counter after every change, from subscription on;
 * completes once [isClosed]. [wait] is the native wait (after, milliseconds).
 */
internal fun rotationFlow(
    count: () -> Long,
    wait: suspend (Long, Long) -> Long?,
    isClosed: () -> Boolean,
): Flow<Long> = flow {
    var seen = count()
    while (true) {
        val next = native { wait(seen, WAIT_SLICE.inWholeMilliseconds) }
        if (next != null) {
            seen = next
            emit(next)
        } else if (isClosed()) {
            break
        }
    }
}

/** A handle's events from collection on, delivered on the collector's dispatcher. */
internal fun eventFlow(add: (EventListener) -> Long, remove: (Long) -> Unit): Flow<Event> = callbackFlow {
    val id = add { trySend(it) }
    awaitClose { remove(id) }
}.buffer(Channel.UNLIMITED)
