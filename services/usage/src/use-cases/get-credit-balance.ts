import type { CreditBalance } from '@offload/contracts';
import type { CreditLedgerRepository } from '../db/credit-ledger-repository.js';
import { toCreditBalance } from '../domain/credits.js';

export interface GetCreditBalanceDeps {
  creditLedger: CreditLedgerRepository;
}

/** The user's spendable credits per kind; a user without ledger rows has zeros. */
export async function getCreditBalance(
  deps: GetCreditBalanceDeps,
  input: { userId: string; now?: Date },
): Promise<CreditBalance> {
  return toCreditBalance(await deps.creditLedger.sumsByKind(input.userId), input.now ?? new Date());
}
