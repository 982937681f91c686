/** Thresholds per sensitivity for a false-alarm target, whatever scored the clean images. */
import { SENSITIVITIES, type ModelEntry, type Sensitivity } from '@blankspot/core';
import { thresholdForFalseAlarms } from '@blankspot/training';

/** Thresholds per sensitivity and what they give on the images they were chosen on. */
export type OperatingPoint = NonNullable<ModelEntry['operatingPoint']> & { thresholds: Record<Sensitivity, number> };

/**
 * The thresholds that flag at most `target` of the clean scores at `balanced` (3x as many at `high`, a
 * third at `low`), each with the false alarms and recall `rates` measures at it.
 */
export function operatingPointFor(
  cleanScores: ArrayLike<number>,
  target: number,
  rates: (threshold: number) => { falseAlarms: number; recall: number },
  chosenOn: string,
): OperatingPoint {
  const targets = { high: Math.min(1, 3 * target), balanced: target, low: target / 3 };
  const thresholds = {} as Record<Sensitivity, number>;
  const falseAlarms = {} as Record<Sensitivity, number>;
  const recall = {} as Record<Sensitivity, number>;
  for (const s of SENSITIVITIES) {
    thresholds[s] = thresholdForFalseAlarms(cleanScores, targets[s]);
    ({ falseAlarms: falseAlarms[s], recall: recall[s] } = rates(thresholds[s]));
  }
  return { thresholds, falseAlarmTargets: targets, chosenOn, falseAlarms, recall };
}
