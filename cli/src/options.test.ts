import { InvalidArgumentError } from 'commander';
import { describe, expect, it } from 'vitest';
import { dataList, list, nonNegativeInt, positiveInt } from './options.js';

describe('option parsers', () => {
  it('takes whole numbers where counts are asked, and says why not otherwise', () => {
    expect(positiveInt('3')).toBe(3);
    for (const bad of ['0', '-2', '1.5', 'abc', '']) expect(() => positiveInt(bad), bad).toThrow(InvalidArgumentError);
    expect(nonNegativeInt('0')).toBe(0);
    expect(nonNegativeInt('12')).toBe(12);
    for (const bad of ['-1', '2.5', 'five', '', ' '])
      expect(() => nonNegativeInt(bad), bad).toThrow(/not a whole number of 0 or more/);
  });

  it('reads lists of known names, with all and both', () => {
    const protocols = list(['paper', 'realistic', 'upload'] as const, 'protocol');
    expect(protocols('upload')).toEqual(['upload']);
    expect(protocols('paper, upload')).toEqual(['paper', 'upload']);
    expect(protocols('all')).toEqual(['paper', 'realistic', 'upload']);
    expect(protocols('both')).toEqual(['paper', 'realistic']);
    expect(() => protocols('papers')).toThrow("unknown protocol 'papers' (one of: paper, realistic, upload, all)");
  });

  it('reads data sets: commas are separate runs, + a mixture', () => {
    expect(dataList('photos')).toEqual([['photos']]);
    expect(dataList('binary,photos+products')).toEqual([['binary'], ['photos', 'products']]);
    expect(dataList('mix')).toEqual([['binary', 'solid', 'photos', 'products']]);
    expect(() => dataList('photos+faces')).toThrow(/unknown data set 'faces'/);
  });
});
