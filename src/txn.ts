/** The transaction builder. Deliberately not thenable: nothing runs until `commit()`. */
import type { Compare } from "./compare.js";
import { InvalidArgumentError } from "./errors.js";
import type { Op, TxnSpec } from "./op.js";
import type { TxnResult } from "./types.js";
import type { CallOptions } from "./options.js";

/**
 * Collects the conditions and both branches of a transaction:
 * `etcd.txn().if(compare.modRevision("k", "=", rev)).onSuccess(op.put("k", "v")).onFailure(op.get("k")).commit()`.
 * All conditions must hold for the success branch to run. Each method may be called more
 * than once; the lists are appended.
 *
 * @category Keys and transactions
 */
export class TxnBuilder {
  readonly #spec: Required<TxnSpec> = { if: [], onSuccess: [], onFailure: [] };
  #committed = false;

  readonly #run: (spec: TxnSpec, options?: CallOptions) => Promise<TxnResult>;

  /** @internal */
  constructor(run: (spec: TxnSpec, options?: CallOptions) => Promise<TxnResult>) {
    this.#run = run;
  }

  /** Adds conditions (all must hold). */
  if(...compares: Compare[]): this {
    this.#spec.if.push(...compares);
    return this;
  }

  /** Adds operations to run when every condition holds. */
  onSuccess(...ops: Op[]): this {
    this.#spec.onSuccess.push(...ops);
    return this;
  }

  /** Adds operations to run when a condition fails. */
  onFailure(...ops: Op[]): this {
    this.#spec.onFailure.push(...ops);
    return this;
  }

  /** The transaction as a plain object (for `op.txn` nesting or logging). */
  toSpec(): TxnSpec {
    return { if: [...this.#spec.if], onSuccess: [...this.#spec.onSuccess], onFailure: [...this.#spec.onFailure] };
  }

  /** Sends the transaction. A builder commits once. */
  commit(options?: CallOptions): Promise<TxnResult> {
    if (this.#committed) return Promise.reject(new InvalidArgumentError("this transaction was already committed"));
    this.#committed = true;
    return this.#run(this.toSpec(), options);
  }
}
